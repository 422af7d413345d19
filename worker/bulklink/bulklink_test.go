package bulklink_test

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"maps"

	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/regnotify/regnotify/events"
	"github.com/regnotify/regnotify/worker/bulklink"
	"github.com/regnotify/regnotify/worker/kafkaio"
	"github.com/regnotify/regnotify/worker/kafkatest"
)

func TestMain(m *testing.M) { kafkatest.VerifyTestMain(m) }

// reject is an expected line of the rejects file.
type reject struct {
	line  int
	field string // a word the reason must contain
}

// genCSV writes a CSV file of n data rows, its columns in an unusual order
// and case, with invalid rows sprinkled in. It returns the expected
// rejects; every other row is valid.
func genCSV(t testing.TB, path string, n int) (valid int, rejects []reject) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	fmt.Fprintln(bw, "SiteUID,cid,uid")
	for i := range n {
		line := i + 2 // line 1 is the header
		uid, site, cid := fmt.Sprintf("_gid_user%07d", i), fmt.Sprintf("customer-%d", i), "bulk"
		switch {
		case i%997 == 5:
			site = uid
			rejects = append(rejects, reject{line, "siteUid"})
		case i%1009 == 7:
			uid = ""
			rejects = append(rejects, reject{line, "uid"})
		case i%2003 == 11:
			fmt.Fprintf(bw, "%s,%s\n", site, uid) // a field short
			rejects = append(rejects, reject{line, "fields"})
			continue
		case i%3001 == 13:
			site = "caf\u00e9" // not ASCII
			rejects = append(rejects, reject{line, "siteUid"})
		case i%4001 == 17:
			cid = strings.Repeat("c", 101)
			rejects = append(rejects, reject{line, "cid"})
		default:
			valid++
		}
		fmt.Fprintf(bw, "%s,%s,%s\n", site, cid, uid)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return valid, rejects
}

// readRejects returns the rejects file's rows (header checked, dropped).
func readRejects(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("rejects file: %v", err)
	}
	if len(recs) == 0 || strings.Join(recs[0], ",") != "line,reason,uid,siteUid,cid" {
		t.Fatalf("rejects file header: got %v", recs)
	}
	return recs[1:]
}

func checkRejects(t *testing.T, path string, want []reject) {
	t.Helper()
	got := readRejects(t, path)
	if len(got) != len(want) {
		t.Fatalf("rejects: got %d, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i][0] != strconv.Itoa(w.line) || !strings.Contains(got[i][1], w.field) {
			t.Errorf("reject %d: got line %s reason %q, want line %d and a reason naming %q", i, got[i][0], got[i][1], w.line, w.field)
		}
	}
}

type world struct {
	kc    *kafkatest.Cluster
	topic string
	dir   string
}

func newWorld(t testing.TB) *world {
	kc := kafkatest.Start(t)
	w := &world{kc: kc, topic: kc.Topic("account.linked"), dir: t.TempDir()}
	kc.CreateTopics(t, w.topic)
	return w
}

func (w *world) config(file string) bulklink.Config {
	return bulklink.Config{Kafka: kafkaio.Kafka{Brokers: w.kc.Brokers}, File: file, Topic: w.topic, BatchSize: 500}
}

func (w *world) count(t testing.TB) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	end, err := w.kc.EndOffsets(ctx, w.topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range end {
		n += e
	}
	return n
}

func run(t testing.TB, cfg bulklink.Config, log *zap.Logger) (bulklink.Stats, error) {
	t.Helper()
	l, err := bulklink.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return l.Run(ctx)
}

func TestBulkLinkCSV100k(t *testing.T) {
	const n = 100_000
	w := newWorld(t)
	file := filepath.Join(w.dir, "accounts.csv")
	valid, rejects := genCSV(t, file, n)
	got, err := run(t, w.config(file), zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got.Rows != n || got.Produced != int64(valid) || got.Rejected != int64(len(rejects)) {
		t.Errorf("stats: got rows %d produced %d rejected %d, want %d, %d, %d", got.Rows, got.Produced, got.Rejected, n, valid, len(rejects))
	}
	if c := w.count(t); c != int64(valid) {
		t.Errorf("records on %s: got %d, want %d", w.topic, c, valid)
	}
	checkRejects(t, file+".rejects.csv", rejects)
}

func TestBulkLinkEvents(t *testing.T) {
	w := newWorld(t)
	file := filepath.Join(w.dir, "accounts.csv")
	if err := os.WriteFile(file, []byte("uid,siteUid\n_gid_a,cust-a\n_gid_b,cust-b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 { // a rerun produces the very same events
		if _, err := run(t, w.config(file), zaptest.NewLogger(t)); err != nil {
			t.Fatalf("Run: %v", err)
		}
	}
	seen := make(map[string]int)
	for _, m := range w.kc.ReadAll(t, w.topic) {
		ev, err := events.Decode(w.topic, m.Value)
		if err != nil {
			t.Fatalf("produced record does not decode: %v", err)
		}
		if string(m.Key) != ev.UID {
			t.Errorf("key: got %q, want the uid %q", m.Key, ev.UID)
		}
		if want := events.LinkEventID(ev.UID, ev.SiteUID); ev.EventID != want {
			t.Errorf("eventId: got %q, want %q", ev.EventID, want)
		}
		if ev.Type != events.AccountLinked {
			t.Errorf("type: got %q, want account.linked", ev.Type)
		}
		seen[string(m.Value)]++
	}
	if len(seen) != 2 {
		t.Errorf("distinct events: got %d, want 2", len(seen))
	}
	for v, c := range seen {
		if c != 2 {
			t.Errorf("event %s produced %d times over two runs, want 2 identical copies", v, c)
		}
	}
	if _, err := os.Stat(file + ".rejects.csv"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a run without rejects left a rejects file (stat: %v)", err)
	}
}

func TestBulkLinkJSONLines(t *testing.T) {
	w := newWorld(t)
	file := filepath.Join(w.dir, "accounts.jsonl")
	okID := events.LinkEventID("_gid_c", "cust-c")
	lines := []string{
		`{"uid":"_gid_a","siteUid":"cust-a"}`,
		`{"uid":"_gid_b","siteUid":"cust-b","cid":"crm","occurredAt":"2026-11-26T10:00:00Z","type":"account.linked"}`,
		``,
		`{"uid":"_gid_c","siteUid":"cust-c","eventId":"` + okID + `"}`,
		`{"uid":"_gid_d","siteUid":"cust-d","eventId":"mine"}`,
		`{"uid":"_gid_e","siteUid":"cust-e","type":"user.registered"}`,
		`{"uid":"_gid_f"`,
		`{"uid":"_gid_g","siteUid":"_gid_g"}`,
		`{"uid":"_gid_h","siteUid":"cust-h","occurredAt":"yesterday"}`,
		`{"uid":"_gid_i","siteUid":"cust-i","cid":"` + strings.Repeat("x", 70_000) + `"}`,
		`{"uid":"_gid_j","siteUid":"cust-j"}`,
	}
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := run(t, w.config(file), zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got.Rows != 10 || got.Produced != 4 || got.Rejected != 6 {
		t.Errorf("stats: got rows %d produced %d rejected %d, want 10, 4, 6", got.Rows, got.Produced, got.Rejected)
	}
	checkRejects(t, file+".rejects.csv", []reject{
		{5, "eventId"}, {6, "type"}, {7, "JSON"}, {8, "siteUid"}, {9, "occurredAt"}, {10, "longer"},
	})
	var uids []string
	for _, m := range w.kc.ReadAll(t, w.topic) {
		ev, err := events.Decode(w.topic, m.Value)
		if err != nil {
			t.Fatal(err)
		}
		uids = append(uids, ev.UID)
		if ev.UID == "_gid_b" && (ev.CID != "crm" || !ev.OccurredAt.Equal(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))) {
			t.Errorf("event b: got cid %q occurredAt %v, want crm and 2026-11-26T10:00:00Z", ev.CID, ev.OccurredAt)
		}
	}
	if len(uids) != 4 {
		t.Errorf("produced uids: got %v, want _gid_a, _gid_b, _gid_c, _gid_j", uids)
	}
}

func TestBulkLinkHeaderErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ name, content string }{
		{"empty", ""},
		{"missing siteUid", "uid,cid\na,b\n"},
		{"unknown column", "uid,siteUid,site_uid\na,b,c\n"},
		{"twice", "uid,siteUid,UID\na,b,c\n"},
	} {
		file := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".csv")
		if err := os.WriteFile(file, []byte(tt.content), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := bulklink.Config{File: file, Writer: discard{}}
		_, err := run(t, cfg, zap.NewNop())
		var he *bulklink.HeaderError
		if !errors.As(err, &he) {
			t.Errorf("%s: got %v, want a *bulklink.HeaderError", tt.name, err)
		}
	}
}

type discard struct{}

func (discard) WriteMessages(context.Context, ...kafka.Message) error { return nil }

// ackLost writes to Kafka but, on write number `after`, reports a failure
// after the write went through: the acknowledgement was lost.
type ackLost struct {
	w     *kafka.Writer
	calls atomic.Int64
	after int64
}

func (a *ackLost) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	err := a.w.WriteMessages(ctx, msgs...)
	if err == nil && a.calls.Add(1) == a.after {
		return errors.New("connection reset (after the write)")
	}
	return err
}

func TestBulkLinkResume(t *testing.T) {
	const n, batch = 20_000, 500
	tests := []struct {
		name string
		// interrupt returns the config of the first, interrupted run and
		// the number of events it may produce twice.
		interrupt func(w *world, cfg bulklink.Config, cancel context.CancelFunc) (bulklink.Config, int64)
	}{
		{"cancel", func(w *world, cfg bulklink.Config, cancel context.CancelFunc) (bulklink.Config, int64) {
			cfg.AfterBatch = func(s bulklink.Stats) {
				if s.Produced >= n/3 {
					cancel() // like Ctrl-C: the batch in flight is checkpointed
				}
			}
			return cfg, 0
		}},
		{"ack lost", func(w *world, cfg bulklink.Config, cancel context.CancelFunc) (bulklink.Config, int64) {
			kw := w.kc.Writer()
			kw.Topic = w.topic
			cfg.Writer = &ackLost{w: kw, after: 9}
			return cfg, batch // the 9th batch is produced again
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			file := filepath.Join(w.dir, "accounts.csv")
			valid, rejects := genCSV(t, file, n)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cfg, dup := tt.interrupt(w, w.config(file), cancel)
			cfg.BatchSize = batch
			log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
			l, err := bulklink.New(cfg, log)
			if err != nil {
				t.Fatal(err)
			}
			first, err := l.Run(ctx)
			if dup == 0 && err != nil {
				t.Fatalf("first Run: %v", err)
			}
			if first.Rows >= n || first.Produced == 0 {
				t.Fatalf("first run: read %d rows, produced %d: want it interrupted midway", first.Rows, first.Produced)
			}
			if w, ok := cfg.Writer.(*ackLost); ok {
				w.w.Close()
			}

			cfg = w.config(file)
			cfg.BatchSize = batch
			cfg.Resume = true
			second, err := run(t, cfg, log)
			if err != nil {
				t.Fatalf("resumed Run: %v", err)
			}
			if second.ResumedAfter == 0 || second.Skipped != int64(second.ResumedAfter-1) {
				t.Errorf("resumed run: resumed after line %d, skipped %d rows: want a checkpoint and every row before it skipped", second.ResumedAfter, second.Skipped)
			}
			// Stats count acknowledged events; a lost acknowledgement is
			// not one, but its records are on the topic.
			if total := first.Produced + second.Produced; total != int64(valid) {
				t.Errorf("acknowledged over both runs: got %d+%d=%d, want the %d valid rows", first.Produced, second.Produced, total, valid)
			}
			if c := w.count(t); c != int64(valid)+dup {
				t.Errorf("records on %s: got %d, want %d", w.topic, c, int64(valid)+dup)
			}
			seen := make(map[string]bool)
			for _, m := range w.kc.ReadAll(t, w.topic) {
				seen[string(m.Key)] = true
			}
			if len(seen) != valid {
				t.Errorf("distinct uids produced: got %d, want every one of the %d valid rows", len(seen), valid)
			}
			checkRejects(t, file+".rejects.csv", rejects)
		})
	}
}

func TestBulkLinkFileChanged(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a.csv")
	if err := os.WriteFile(file, []byte("uid,siteUid\n_gid_a,cust-a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := bulklink.Config{File: file, Writer: discard{}}
	if _, err := run(t, cfg, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("uid,siteUid\n_gid_a,cust-a\n_gid_b,cust-b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Resume = true
	if _, err := run(t, cfg, zap.NewNop()); err == nil || !strings.Contains(err.Error(), "changed since checkpoint") {
		t.Errorf("resume on a changed file: got %v, want a 'changed since checkpoint' error", err)
	}
}

func TestBulkLinkRateLimit(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a.csv")
	var b strings.Builder
	b.WriteString("uid,siteUid\n")
	for i := range 30 {
		fmt.Fprintf(&b, "_gid_%d,cust-%d\n", i, i)
	}
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := bulklink.Config{File: file, Writer: discard{}, RateLimit: 100}
	start := time.Now()
	got, err := run(t, cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	// 30 events at 100/s take about 0.29s (the first is free).
	if took := time.Since(start); took < 250*time.Millisecond || got.Produced != 30 {
		t.Errorf("30 rows at 100/s: took %v, produced %d; want at least 250ms and 30", took, got.Produced)
	}
}

// TestBulkLinkConstantMemory reads a file several times larger than the
// heap it may use and checks the live heap never grows near the file size.
func TestBulkLinkConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 20 MB file")
	}
	const n = 300_000
	dir := t.TempDir()
	file := filepath.Join(dir, "big.csv")
	genCSV(t, file, n)
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak, samples atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			samples.Add(1)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	}()
	got, err := run(t, bulklink.Config{File: file, Writer: discard{}, BatchSize: 1000}, zap.NewNop())
	close(stop)
	wg.Wait()
	if err != nil || got.Rows != n {
		t.Fatalf("Run: %v, %d rows, want %d", err, got.Rows, n)
	}
	if samples.Load() == 0 {
		t.Fatal("the run ended before the heap was sampled once; the check would prove nothing")
	}
	growth := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("file %d MB, peak heap growth %.1f MB", fi.Size()>>20, float64(growth)/(1<<20))
	if limit := fi.Size() / 2; growth > limit {
		t.Errorf("heap grew by %d bytes reading a %d-byte file: want under %d (streaming, not loading)", growth, fi.Size(), limit)
	}
}

// BenchmarkBulkLink measures rows/s from a CSV file to the in-process broker
// (acks=all, batches of 1000). Run: make bench, or
// go test -run '^$' -bench BulkLink -benchtime 3x ./worker/bulklink/
func BenchmarkBulkLink(b *testing.B) {
	const n = 100_000
	w := newWorld(b)
	file := filepath.Join(w.dir, "accounts.csv")
	genCSV(b, file, n)
	var rows int64
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		cfg := w.config(file)
		cfg.BatchSize = 1000
		got, err := run(b, cfg, zap.NewNop())
		if err != nil {
			b.Fatal(err)
		}
		rows += got.Rows
	}
	b.ReportMetric(float64(rows)/time.Since(start).Seconds(), "rows/s")
}

// A row may leave out the optional cid when it is the header's last column;
// any other field count is a reject.
func TestBulkLinkTrailingCIDMayBeLeftOut(t *testing.T) {
	w := newWorld(t)
	file := filepath.Join(w.dir, "accounts.csv")
	body := "uid,siteUid,cid\n_gid_a,cust-a\n_gid_b,cust-b,web\n_gid_c,cust-c,web,extra\n_gid_d\n"
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := run(t, w.config(file), zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st.Produced != 2 || st.Rejected != 2 {
		t.Errorf("produced, rejected = %d, %d; want 2, 2 (lines 4 and 5 rejected)", st.Produced, st.Rejected)
	}
	cids := map[string]string{}
	for _, m := range w.kc.ReadAll(t, w.topic) {
		ev, err := events.Decode(w.topic, m.Value)
		if err != nil {
			t.Fatal(err)
		}
		cids[ev.UID] = ev.CID
	}
	if want := map[string]string{"_gid_a": "", "_gid_b": "web"}; !maps.Equal(cids, want) {
		t.Errorf("events (uid → cid) = %v, want %v", cids, want)
	}
}

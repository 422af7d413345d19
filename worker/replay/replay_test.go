package replay_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap/zaptest"

	"github.com/regnotify/regnotify/worker/deadletter"
	"github.com/regnotify/regnotify/worker/kafkaio"
	"github.com/regnotify/regnotify/worker/kafkatest"
	"github.com/regnotify/regnotify/worker/replay"
)

func TestMain(m *testing.M) { kafkatest.VerifyTestMain(m) }

var failedAt = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

// dead is a dead-letter record as the worker writes it.
type dead struct {
	topic     string // original topic; "" for none
	partition int
	class     string
	code      string
	failedAt  time.Time
	count     string // regnotify.replay.count; "" for none
	key, val  string
}

func (d dead) message(dlq string) kafka.Message {
	h := []kafka.Header{{Key: "traceparent", Value: []byte("00-abc-def-01")}}
	add := func(k, v string) { h = append(h, kafka.Header{Key: k, Value: []byte(v)}) }
	if d.count != "" {
		add(deadletter.HeaderReplayCount, d.count)
	}
	add(deadletter.HeaderErrorClass, d.class)
	if d.code != "" {
		add(deadletter.HeaderErrorCode, d.code)
	}
	add(deadletter.HeaderErrorMessage, "something failed")
	if d.topic != "" {
		add(deadletter.HeaderOriginalTopic, d.topic)
		add(deadletter.HeaderOriginalPartition, strconv.Itoa(d.partition))
		add(deadletter.HeaderOriginalOffset, "7")
	}
	add(deadletter.HeaderConsumerGroup, "regnotify")
	add(deadletter.HeaderAttempts, "3")
	if !d.failedAt.IsZero() {
		add(deadletter.HeaderFailedAt, d.failedAt.Format(time.RFC3339Nano))
	}
	return kafka.Message{Topic: dlq, Key: []byte(d.key), Value: []byte(d.val), Headers: h}
}

func TestDecide(t *testing.T) {
	const dlq = "regnotify.dlq"
	base := dead{topic: "account.linked", class: deadletter.ClassRejected, code: "403005", failedAt: failedAt}
	with := func(f func(*dead)) dead { d := base; f(&d); return d }
	tests := []struct {
		name   string
		filter replay.Filter
		rec    dead
		want   replay.Verdict
	}{
		{"no filter", replay.Filter{}, base, replay.Replay},
		{"class match", replay.Filter{Classes: []string{"invalid_event", "rejected"}}, base, replay.Replay},
		{"class mismatch", replay.Filter{Classes: []string{"retries_exhausted"}}, base, replay.SkipFilter},
		{"code match", replay.Filter{Codes: []string{"403005"}}, base, replay.Replay},
		{"code mismatch", replay.Filter{Codes: []string{"500001"}}, base, replay.SkipFilter},
		{"code filter, record without code", replay.Filter{Codes: []string{"403005"}}, with(func(d *dead) { d.code = "" }), replay.SkipFilter},
		{"topic match", replay.Filter{Topics: []string{"account.linked"}}, base, replay.Replay},
		{"topic mismatch", replay.Filter{Topics: []string{"user.registered"}}, base, replay.SkipFilter},
		{"since inclusive", replay.Filter{Since: failedAt}, base, replay.Replay},
		{"since after", replay.Filter{Since: failedAt.Add(time.Second)}, base, replay.SkipFilter},
		{"until exclusive", replay.Filter{Until: failedAt}, base, replay.SkipFilter},
		{"until after", replay.Filter{Until: failedAt.Add(time.Second)}, base, replay.Replay},
		{"window, no failure time", replay.Filter{Since: failedAt.Add(-time.Hour)}, with(func(d *dead) { d.failedAt = time.Time{} }), replay.SkipFilter},
		{"loop guard below", replay.Filter{MaxReplays: 3}, with(func(d *dead) { d.count = "2" }), replay.Replay},
		{"loop guard at", replay.Filter{MaxReplays: 3}, with(func(d *dead) { d.count = "3" }), replay.SkipLoopGuard},
		{"loop guard off", replay.Filter{}, with(func(d *dead) { d.count = "99" }), replay.Replay},
		{"count unreadable", replay.Filter{}, with(func(d *dead) { d.count = "two" }), replay.Unreplayable},
		{"no original topic", replay.Filter{}, with(func(d *dead) { d.topic = "" }), replay.Unreplayable},
		{"original topic is the DLQ", replay.Filter{}, with(func(d *dead) { d.topic = dlq }), replay.Unreplayable},
		{"filter before unreplayable", replay.Filter{Classes: []string{"invalid_event"}}, with(func(d *dead) { d.topic = "" }), replay.SkipFilter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := tt.filter.Decide(tt.rec.message(dlq), dlq)
			if got != tt.want {
				t.Errorf("Decide: got %v (%s), want %v", got, reason, tt.want)
			}
			if (got == replay.Unreplayable) != (reason != "") {
				t.Errorf("Decide: verdict %v with reason %q: want a reason exactly for unreplayable", got, reason)
			}
		})
	}
}

func TestCopy(t *testing.T) {
	for _, tt := range []struct {
		count string
		want  string
	}{{"", "1"}, {"1", "2"}, {"41", "42"}} {
		m := dead{topic: "user.registered", partition: 2, class: deadletter.ClassRetriesExhausted, code: "500001", failedAt: failedAt, count: tt.count, key: "k", val: "v"}.message("dlq")
		c, err := replay.Copy(m)
		if err != nil {
			t.Fatal(err)
		}
		checkCopy(t, c, "user.registered", tt.want)
	}
}

// checkCopy checks that c is a correct replayed copy.
func checkCopy(t *testing.T, c kafka.Message, topic, count string) {
	t.Helper()
	if c.Topic != topic {
		t.Errorf("copy topic: got %q, want %q", c.Topic, topic)
	}
	var counts int
	for _, h := range c.Headers {
		if strings.HasPrefix(h.Key, deadletter.HeaderErrorPrefix) {
			t.Errorf("copy keeps error header %s", h.Key)
		}
		if h.Key == deadletter.HeaderReplayCount {
			counts++
		}
	}
	if got, _ := deadletter.Header(c.Headers, deadletter.HeaderReplayCount); got != count || counts != 1 {
		t.Errorf("copy replay count: got %q in %d headers, want %q in 1", got, counts, count)
	}
	if got, _ := deadletter.Header(c.Headers, "traceparent"); got != "00-abc-def-01" {
		t.Errorf("copy lost original header traceparent: got %q", got)
	}
	if got, ok := deadletter.Header(c.Headers, deadletter.HeaderOriginalTopic); !ok || got != topic {
		t.Errorf("copy %s header: got %q, want %q", deadletter.HeaderOriginalTopic, got, topic)
	}
}

// world is a broker with a dead-letter topic and two original topics.
type world struct {
	t        *testing.T
	kc       *kafkatest.Cluster
	dlq      string
	reg      string
	link     string
	group    string
	produced int
}

func newWorld(t *testing.T) *world {
	kc := kafkatest.Start(t)
	w := &world{t: t, kc: kc, dlq: kc.Topic("regnotify.dlq"), reg: kc.Topic("user.registered"), link: kc.Topic("account.linked"), group: kc.Group("regnotify-replay")}
	kc.CreateTopics(t, w.dlq, w.reg, w.link)
	return w
}

func (w *world) produce(ds ...dead) {
	var msgs []kafka.Message
	for _, d := range ds {
		if d.key == "" {
			d.key = fmt.Sprintf("uid-%d", w.produced)
		}
		if d.val == "" {
			d.val = fmt.Sprintf(`{"n":%d}`, w.produced)
		}
		w.produced++
		msgs = append(msgs, d.message(w.dlq))
	}
	w.kc.Produce(w.t, msgs...)
}

func (w *world) config() replay.Config {
	return replay.Config{Kafka: kafkaio.Kafka{Brokers: w.kc.Brokers}, Group: w.group, DLQTopic: w.dlq, BatchSize: 10, Linger: 5 * time.Millisecond}
}

func (w *world) run(cfg replay.Config) (replay.Stats, error) {
	w.t.Helper()
	r, err := replay.New(cfg, zaptest.NewLogger(w.t))
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return r.Run(ctx)
}

// committed returns the replay group's committed offset per partition.
func (w *world) committed() map[int]int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := w.kc.Committed(ctx, w.group, w.dlq)
	if errors.Is(err, kafka.GroupIdNotFound) { // kfake: a group that never committed
		return nil
	}
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

func (w *world) checkCommittedToEnd() {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	end, err := w.kc.EndOffsets(ctx, w.dlq)
	if err != nil {
		w.t.Fatal(err)
	}
	com := w.committed()
	for p, e := range end {
		if e > 0 && com[p] != e {
			w.t.Errorf("partition %d: committed %d, want the end %d", p, com[p], e)
		}
	}
}

func many(n int, d dead) []dead {
	out := make([]dead, n)
	for i := range out {
		out[i] = d
		out[i].partition = i % kafkatest.Partitions
	}
	return out
}

func TestReplayRoundTrip(t *testing.T) {
	w := newWorld(t)
	w.produce(many(20, dead{topic: w.link, class: deadletter.ClassRejected, code: "403005", failedAt: failedAt})...)
	w.produce(many(10, dead{topic: w.reg, class: deadletter.ClassRetriesExhausted, failedAt: failedAt, count: "1"})...)
	w.produce(dead{class: deadletter.ClassInvalidEvent, failedAt: failedAt}) // no original topic

	got, err := w.run(w.config())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := replay.Stats{Total: 31, Replayed: 30, Unreplayable: 1}
	if got != want {
		t.Errorf("stats: got %+v, want %+v", got, want)
	}
	links, regs := w.kc.ReadAll(t, w.link), w.kc.ReadAll(t, w.reg)
	if len(links) != 20 || len(regs) != 10 {
		t.Fatalf("copies: got %d on %s and %d on %s, want 20 and 10", len(links), w.link, len(regs), w.reg)
	}
	for _, m := range links {
		checkCopy(t, m, w.link, "1")
	}
	for _, m := range regs {
		checkCopy(t, m, w.reg, "2")
	}
	for _, m := range append(links, regs...) {
		n, _ := strconv.Atoi(strings.TrimPrefix(string(m.Key), "uid-"))
		if wantVal := fmt.Sprintf(`{"n":%d}`, n); string(m.Value) != wantVal {
			t.Errorf("copy of %s: value %q, want %q", m.Key, m.Value, wantVal)
		}
		if p, _ := deadletter.Header(m.Headers, deadletter.HeaderOriginalPartition); p != strconv.Itoa(m.Partition) {
			t.Errorf("copy of %s: partition %d, want the original partition %s", m.Key, m.Partition, p)
		}
	}
	w.checkCommittedToEnd()

	// A second run finds nothing new.
	got, err = w.run(w.config())
	if err != nil {
		t.Fatalf("second Run: %v", err)
	}
	if want := (replay.Stats{Total: 0}); got != want {
		t.Errorf("second run stats: got %+v, want %+v", got, want)
	}
}

func TestReplayFiltersAndLoopGuard(t *testing.T) {
	w := newWorld(t)
	early, late := failedAt.Add(-48*time.Hour), failedAt
	w.produce(
		dead{topic: w.link, class: deadletter.ClassRejected, code: "403005", failedAt: late, val: "a"},
		dead{topic: w.link, class: deadletter.ClassRejected, code: "400006", failedAt: late, val: "b"},
		dead{topic: w.reg, class: deadletter.ClassRejected, code: "403005", failedAt: late, val: "c"},
		dead{topic: w.link, class: deadletter.ClassRetriesExhausted, code: "403005", failedAt: late, val: "d"},
		dead{topic: w.link, class: deadletter.ClassRejected, code: "403005", failedAt: early, val: "e"},
		dead{topic: w.link, class: deadletter.ClassRejected, code: "403005", failedAt: late, count: "2", val: "f"},
		dead{topic: w.link, class: deadletter.ClassRejected, code: "403005", failedAt: late, count: "1", val: "g"},
	)
	cfg := w.config()
	cfg.Filter = replay.Filter{
		Classes: []string{deadletter.ClassRejected}, Codes: []string{"403005"}, Topics: []string{w.link},
		Since: failedAt.Add(-time.Hour), Until: failedAt.Add(time.Hour), MaxReplays: 2,
	}
	got, err := w.run(cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := replay.Stats{Total: 7, Replayed: 2, SkippedByFilter: 4, SkippedByLoopGuard: 1}
	if got != want {
		t.Errorf("stats: got %+v, want %+v", got, want)
	}
	var vals []string
	for _, m := range w.kc.ReadAll(t, w.link) {
		vals = append(vals, string(m.Value))
	}
	slices.Sort(vals)
	if !slices.Equal(vals, []string{"a", "g"}) {
		t.Errorf("replayed values: got %q, want [a g]", vals)
	}
	if n := len(w.kc.ReadAll(t, w.reg)); n != 0 {
		t.Errorf("copies on %s: got %d, want 0", w.reg, n)
	}
	// Skipped records are handled too: committed.
	w.checkCommittedToEnd()
}

func TestReplayDryRun(t *testing.T) {
	w := newWorld(t)
	w.produce(many(6, dead{topic: w.link, class: deadletter.ClassRejected, code: "403005", failedAt: failedAt})...)
	w.produce(dead{topic: w.reg, class: deadletter.ClassInvalidEvent, failedAt: failedAt, count: "5"})
	var out bytes.Buffer
	cfg := w.config()
	cfg.DryRun, cfg.DryRunOut = true, &out
	cfg.Filter.MaxReplays = 3
	got, err := w.run(cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if want := (replay.Stats{Total: 7, Replayed: 6, SkippedByLoopGuard: 1}); got != want {
		t.Errorf("stats: got %+v, want %+v", got, want)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 7 || !strings.HasPrefix(lines[0], "PARTITION") {
		t.Fatalf("dry-run table: got %d lines, want a header and 6 rows:\n%s", len(lines), out.String())
	}
	for _, l := range lines[1:] {
		for _, want := range []string{"rejected", "403005", w.link, failedAt.Format(time.RFC3339)} {
			if !strings.Contains(l, want) {
				t.Errorf("dry-run row %q: want it to contain %q", l, want)
			}
		}
	}
	if n := len(w.kc.ReadAll(t, w.link)) + len(w.kc.ReadAll(t, w.reg)); n != 0 {
		t.Errorf("dry run produced %d copies, want none", n)
	}
	for p, off := range w.committed() {
		if off >= 0 {
			t.Errorf("dry run committed partition %d at %d, want nothing committed", p, off)
		}
	}
}

// faultyWriter passes writes on to a real writer, and after a number of
// writes runs a fault instead.
type faultyWriter struct {
	w     *kafka.Writer
	calls atomic.Int64
	after int64
	fault func() error
}

func (f *faultyWriter) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	if f.calls.Add(1) > f.after && f.fault != nil {
		if err := f.fault(); err != nil {
			return err
		}
	}
	return f.w.WriteMessages(ctx, msgs...)
}

// checkExactlyOnce checks that every dead letter 0..n-1 was copied exactly
// once to topic.
func checkExactlyOnce(t *testing.T, w *world, topic string, n int) {
	t.Helper()
	seen := make(map[string]int)
	for _, m := range w.kc.ReadAll(t, topic) {
		seen[string(m.Value)]++
	}
	for i := range n {
		v := fmt.Sprintf(`{"n":%d}`, i)
		if seen[v] != 1 {
			t.Errorf("dead letter %s copied %d times, want exactly once", v, seen[v])
		}
		delete(seen, v)
	}
	if len(seen) > 0 {
		t.Errorf("unexpected copies: %v", seen)
	}
}

func TestReplayRestartAfterStop(t *testing.T) {
	const n, stopAfter = 400, 100
	w := newWorld(t)
	w.produce(many(n, dead{topic: w.link, class: deadletter.ClassRejected, failedAt: failedAt})...)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := w.config()
	cfg.AfterCommit = func(s replay.Stats) {
		if s.Replayed >= stopAfter {
			cancel() // like Ctrl-C: batches in flight finish and commit
		}
	}
	r, err := replay.New(cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	first, err := r.Run(ctx)
	if err != nil {
		t.Fatalf("first Run: %v", err)
	}
	if first.Replayed < stopAfter || first.Replayed >= n {
		t.Fatalf("first run replayed %d, want it stopped between %d and %d", first.Replayed, stopAfter, n)
	}
	if copies := len(w.kc.ReadAll(t, w.link)); int64(copies) != first.Replayed {
		t.Errorf("after the stop: %d copies, want exactly the %d replayed (all committed)", copies, first.Replayed)
	}

	cfg.AfterCommit = nil
	second, err := w.run(cfg)
	if err != nil {
		t.Fatalf("second Run: %v", err)
	}
	if second.Total != n-first.Replayed || second.Replayed != second.Total {
		t.Errorf("second run: got %+v, want the remaining %d replayed", second, n-first.Replayed)
	}
	checkExactlyOnce(t, w, w.link, n)
	w.checkCommittedToEnd()
}

func TestReplayRestartAfterWriteFailure(t *testing.T) {
	const n = 200
	w := newWorld(t)
	w.produce(many(n, dead{topic: w.link, class: deadletter.ClassRejected, failedAt: failedAt})...)
	kw := w.kc.Writer()
	kw.Balancer = &kafka.Hash{}
	defer kw.Close()
	cfg := w.config()
	boom := errors.New("broker gone")
	cfg.Writer = &faultyWriter{w: kw, after: 5, fault: func() error { return boom }}
	first, err := w.run(cfg)
	if !errors.Is(err, boom) {
		t.Fatalf("first Run: got %v, want the write error", err)
	}
	if first.Replayed == 0 || first.Replayed >= n {
		t.Fatalf("first run replayed %d, want some but not all of %d", first.Replayed, n)
	}
	if copies := len(w.kc.ReadAll(t, w.link)); int64(copies) != first.Replayed {
		t.Errorf("after the failure: %d copies, want exactly the %d replayed", copies, first.Replayed)
	}

	cfg.Writer = nil
	second, err := w.run(cfg)
	if err != nil {
		t.Fatalf("second Run: %v", err)
	}
	if second.Replayed != n-first.Replayed {
		t.Errorf("second run replayed %d, want the remaining %d", second.Replayed, n-first.Replayed)
	}
	checkExactlyOnce(t, w, w.link, n)
	w.checkCommittedToEnd()
}

func TestReplayFollow(t *testing.T) {
	w := newWorld(t)
	w.produce(many(5, dead{topic: w.link, class: deadletter.ClassRejected, failedAt: failedAt})...)
	cfg := w.config()
	cfg.Follow = true
	r, err := replay.New(cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type result struct {
		s   replay.Stats
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := r.Run(ctx)
		done <- result{s, err}
	}()
	waitFor := func(n int64) {
		t.Helper()
		for r.Progress().Replayed < n {
			if ctx.Err() != nil {
				t.Fatalf("replayed %d, want %d", r.Progress().Replayed, n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor(5)
	w.produce(many(7, dead{topic: w.link, class: deadletter.ClassRejected, failedAt: failedAt})...)
	waitFor(12)
	cancel()
	res := <-done
	if res.err != nil {
		t.Fatalf("Run: %v", res.err)
	}
	if res.s.Replayed != 12 || res.s.Total != -1 {
		t.Errorf("stats: got %+v, want 12 replayed and Total -1", res.s)
	}
	checkExactlyOnce(t, w, w.link, 12)
}

func TestConfigValidate(t *testing.T) {
	k := kafkaio.Kafka{Brokers: []string{"127.0.0.1:9092"}}
	for _, tt := range []struct {
		name string
		cfg  replay.Config
	}{
		{"no brokers", replay.Config{}},
		{"dry run and follow", replay.Config{Kafka: k, DryRun: true, Follow: true}},
		{"negative max replays", replay.Config{Kafka: k, Filter: replay.Filter{MaxReplays: -1}}},
		{"since after until", replay.Config{Kafka: k, Filter: replay.Filter{Since: failedAt, Until: failedAt.Add(-time.Second)}}},
	} {
		if err := tt.cfg.Validate(); err == nil {
			t.Errorf("%s: Validate: got nil, want an error", tt.name)
		}
	}
	if err := (replay.Config{Kafka: k}).Validate(); err != nil {
		t.Errorf("defaults: Validate: %v", err)
	}
}

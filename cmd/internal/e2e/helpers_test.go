package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/goleak"

	"github.com/regnotify/regnotify/cmd/internal/e2e"
	"github.com/regnotify/regnotify/gigya/gigyasim"
	"github.com/regnotify/regnotify/worker/deadletter"
)

// bin is the regnotify binary, built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "regnotify-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	bin, err = e2e.Build(ctx, dir)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		// The workers are processes; what could leak here is the harness's
		// broker, simulator server and clients.
		if err := goleak.Find(
			goleak.IgnoreAnyFunction("github.com/segmentio/kafka-go.(*connPool).discover"),
		); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: goroutines left after the tests: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// world is one scenario: the Env, the workers started in it, and the
// /metrics bodies scraped, all searched for secrets at the end.
type world struct {
	*e2e.Env
	t       *testing.T
	ctx     context.Context
	mu      sync.Mutex
	workers []*e2e.Worker
	scrapes [][]byte
}

func newWorld(t *testing.T, cfg e2e.EnvConfig) *world {
	t.Helper()
	cfg.Dir = t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	env, err := e2e.NewEnv(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{Env: env, t: t, ctx: ctx}
	t.Cleanup(func() {
		w.mu.Lock()
		ws := slices.Clone(w.workers)
		w.mu.Unlock()
		for _, p := range ws {
			p.Close()
		}
		if t.Failed() {
			for _, p := range ws {
				tailLog(t, p)
			}
		}
		env.Close()
	})
	return w
}

// start starts a worker and waits until it is ready (joined the group).
func (w *world) start(o e2e.WorkerOptions) *e2e.Worker {
	w.t.Helper()
	p := w.startNoWait(o)
	if err := p.WaitReady(w.ctx, 60*time.Second); err != nil {
		w.t.Fatalf("worker pid %d: %v", p.Pid(), err)
	}
	return p
}

func (w *world) startNoWait(o e2e.WorkerOptions) *e2e.Worker {
	w.t.Helper()
	o.Bin = bin
	p, err := w.StartWorker(w.ctx, o)
	if err != nil {
		w.t.Fatal(err)
	}
	w.mu.Lock()
	w.workers = append(w.workers, p)
	w.mu.Unlock()
	return p
}

// scrape reads /metrics and keeps the body for the secrets check.
func (w *world) scrape(p *e2e.Worker) (e2e.Metrics, error) {
	m, err := p.Scrape(w.ctx)
	if err == nil {
		w.mu.Lock()
		w.scrapes = append(w.scrapes, m.Raw)
		w.mu.Unlock()
	}
	return m, err
}

func (w *world) produce(msgs ...kafka.Message) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(w.ctx, 60*time.Second)
	defer cancel()
	if err := w.Produce(ctx, msgs...); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) waitCaughtUp(timeout time.Duration, topics ...string) {
	w.t.Helper()
	if err := w.WaitCaughtUp(w.ctx, timeout, topics...); err != nil {
		w.t.Fatalf("group did not commit to the end of the topics: %v", err)
	}
}

func (w *world) dlq() []kafka.Message {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(w.ctx, 60*time.Second)
	defer cancel()
	recs, err := w.ReadDLQ(ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	return recs
}

// checkNoSecrets searches every log line of every worker, every /metrics
// body scraped, every dead-letter record (key, value, headers) and the
// extra texts (errors, outputs) for the secrets in any form.
func (w *world) checkNoSecrets(extra ...string) {
	w.t.Helper()
	w.checkNoSecretsForms(w.Credentials.SecretForms(), extra...)
}

// checkNoSecretsForms is checkNoSecrets for the given secret forms.
func (w *world) checkNoSecretsForms(forms []string, extra ...string) {
	w.t.Helper()
	check := func(where, text string) {
		for _, f := range forms {
			if strings.Contains(text, f) {
				w.t.Errorf("secret leak: %s contains a secret (form %.12q...)", where, f)
			}
		}
	}
	w.mu.Lock()
	ws, scrapes := slices.Clone(w.workers), slices.Clone(w.scrapes)
	w.mu.Unlock()
	lines := 0
	for _, p := range ws {
		if m, err := p.Scrape(w.ctx); err == nil {
			scrapes = append(scrapes, m.Raw)
		}
		logs, err := p.Logs()
		if err != nil {
			w.t.Fatal(err)
		}
		for i, l := range strings.Split(string(logs), "\n") {
			check(fmt.Sprintf("log line %d of worker pid %d", i+1, p.Pid()), l)
			lines++
		}
	}
	for i, s := range scrapes {
		check(fmt.Sprintf("/metrics body %d", i), string(s))
	}
	recs := w.dlq()
	for _, r := range recs {
		where := fmt.Sprintf("dead letter %s/%d@%d", r.Topic, r.Partition, r.Offset)
		check(where+" key", string(r.Key))
		check(where+" value", string(r.Value))
		for _, h := range r.Headers {
			check(where+" header "+h.Key, h.Key+"="+string(h.Value))
		}
	}
	for i, x := range extra {
		check(fmt.Sprintf("text %d", i), x)
	}
	if lines <= len(ws) { // strings.Split of an empty log is one empty line
		w.t.Errorf("secrets: the workers' logs are empty; the search would prove nothing")
	}
	w.t.Logf("secrets: searched %d log lines, %d /metrics bodies, %d dead letters, %d other texts: %d forms each",
		lines, len(scrapes), len(recs), len(extra), len(forms))
}

func tailLog(t *testing.T, p *e2e.Worker) {
	b, err := p.Logs()
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	t.Logf("last log lines of worker pid %d:\n%s", p.Pid(), strings.Join(lines, "\n"))
}

// sent is one event the scenario produced, with where it landed.
type sent struct {
	id, uid, siteUID, topic string
	seq                     int // position in its user's sequence
	partition               int
	offset                  int64
}

// ledger knows every event of a scenario, read back from Kafka to learn
// partitions and offsets.
type ledger struct {
	byID  map[string]*sent
	byPos map[string]*sent // topic/partition/offset
	byUID map[string][]*sent
}

func pos(topic string, partition int, offset int64) string {
	return topic + "/" + strconv.Itoa(partition) + "/" + strconv.FormatInt(offset, 10)
}

// validPrefix starts the eventId of every valid event the scenarios
// produce; readLedger indexes only those.
const validPrefix = "ev-"

// readLedger reads topics back and indexes the valid events in them.
func (w *world) readLedger(topics ...string) *ledger {
	w.t.Helper()
	l := &ledger{byID: map[string]*sent{}, byPos: map[string]*sent{}, byUID: map[string][]*sent{}}
	for _, tp := range topics {
		ctx, cancel := context.WithTimeout(w.ctx, 60*time.Second)
		msgs, err := w.Kafka.ReadAllContext(ctx, tp)
		cancel()
		if err != nil {
			w.t.Fatal(err)
		}
		for _, m := range msgs {
			var ev struct {
				EventID string `json:"eventId"`
				UID     string `json:"uid"`
				SiteUID string `json:"siteUid"`
			}
			if json.Unmarshal(m.Value, &ev) != nil || !strings.HasPrefix(ev.EventID, validPrefix) {
				continue
			}
			s := &sent{id: ev.EventID, uid: ev.UID, siteUID: ev.SiteUID, topic: tp, partition: m.Partition, offset: m.Offset}
			l.byID[s.id] = s
			l.byPos[pos(tp, m.Partition, m.Offset)] = s
			l.byUID[s.uid] = append(l.byUID[s.uid], s)
		}
	}
	// Per-user sequence: offset order within one partition of one topic,
	// which is the order the worker must keep.
	for _, evs := range l.byUID {
		slices.SortFunc(evs, func(a, b *sent) int {
			if c := strings.Compare(a.topic, b.topic); c != 0 {
				return c
			}
			return int(a.offset - b.offset)
		})
		for i, s := range evs {
			s.seq = i
		}
	}
	return l
}

// report is what became of a scenario's events, from the simulator's and the
// dead-letter topic's point of view (not the worker's own counters, which
// restart with every process).
type report struct {
	events       int
	notified     int // a notifyRegistration call with its eventId got errorCode 0
	alreadyDone  int // no success but the link it asks for exists (403005 then getUserInfo)
	deadLettered int
	lost         []string // none of the above
	duplicates   int      // notify calls for an event after one that succeeded
	redelivered  int      // events with at least one duplicate
	extraCalls   int      // notify calls beyond the first per event (retries included)
	orderBreaks  []string // users whose events were first called out of order
	dlqByID      map[string]kafka.Message
}

func (r report) String() string {
	return fmt.Sprintf("events=%d notified=%d already_done=%d dead_lettered=%d lost=%d duplicates=%d (events redelivered=%d) extra_calls=%d order_breaks=%d",
		r.events, r.notified, r.alreadyDone, r.deadLettered, len(r.lost), r.duplicates, r.redelivered, r.extraCalls, len(r.orderBreaks))
}

// account builds the report for the events in l.
func (w *world) account(l *ledger) report {
	w.t.Helper()
	r := report{events: len(l.byID), dlqByID: map[string]kafka.Message{}}
	for _, d := range w.dlq() {
		tp, _ := e2e.Header(d, deadletter.HeaderOriginalTopic)
		p, _ := e2e.Header(d, deadletter.HeaderOriginalPartition)
		o, _ := e2e.Header(d, deadletter.HeaderOriginalOffset)
		pi, _ := strconv.Atoi(p)
		oi, _ := strconv.ParseInt(o, 10, 64)
		if s := l.byPos[pos(tp, pi, oi)]; s != nil {
			r.dlqByID[s.id] = d
		}
	}
	for uid, evs := range l.byUID {
		calls := w.Sim.Calls(uid)
		type state struct{ calls, okCalls, dups int }
		st := map[string]*state{}
		var firstOrder []string
		for _, c := range calls {
			if c.Method != gigyasim.MethodNotifyRegistration {
				continue
			}
			s := st[c.Context]
			if s == nil {
				s = &state{}
				st[c.Context] = s
				firstOrder = append(firstOrder, c.Context)
			}
			s.calls++
			if s.okCalls > 0 {
				s.dups++
			}
			if c.Code == 0 {
				s.okCalls++
			}
		}
		lastSeq := -1
		for _, id := range firstOrder {
			if ev := l.byID[id]; ev != nil && ev.uid == uid {
				if ev.seq < lastSeq {
					r.orderBreaks = append(r.orderBreaks, fmt.Sprintf("%s: %s (seq %d) first called after seq %d", uid, id, ev.seq, lastSeq))
					break
				}
				lastSeq = ev.seq
			}
		}
		for _, ev := range evs {
			s := st[ev.id]
			if s == nil {
				s = &state{}
			}
			r.extraCalls += max(0, s.calls-1)
			r.duplicates += s.dups
			if s.dups > 0 {
				r.redelivered++
			}
			_, dead := r.dlqByID[ev.id]
			switch {
			case dead:
				r.deadLettered++
			case s.okCalls > 0:
				r.notified++
			case ev.siteUID != "" && s.calls > 0 && linkedTo(w.Sim, ev.siteUID) == ev.uid:
				r.alreadyDone++
			default:
				r.lost = append(r.lost, ev.id)
			}
		}
	}
	return r
}

func linkedTo(sim *gigyasim.Server, siteUID string) string {
	uid, _ := sim.Linked(siteUID)
	return uid
}

// requireNothingLost fails the test if an event is lost, a valid event was
// dead-lettered (a false dead letter) or a user's order broke.
func (w *world) requireNothingLost(r report) {
	w.t.Helper()
	w.t.Logf("report: %v", r)
	if len(r.lost) > 0 {
		w.t.Errorf("%d events lost (neither notified, already done nor dead-lettered), e.g. %v", len(r.lost), r.lost[:min(5, len(r.lost))])
	}
	if r.deadLettered > 0 {
		for id, d := range r.dlqByID {
			class, _ := e2e.Header(d, deadletter.HeaderErrorClass)
			msg, _ := e2e.Header(d, deadletter.HeaderErrorMessage)
			w.t.Errorf("false dead letter: valid event %s dead-lettered as %s: %s", id, class, msg)
			break
		}
		w.t.Errorf("%d valid events dead-lettered, want 0", r.deadLettered)
	}
	if len(r.orderBreaks) > 0 {
		w.t.Errorf("per-user order broken for %d users, e.g. %s", len(r.orderBreaks), r.orderBreaks[0])
	}
}

// simCodes returns how often the simulator answered method with code.
func simCodes(sim *gigyasim.Server, method string) map[string]int {
	return sim.Stats().Calls[method]
}

func uidOf(i int) string  { return fmt.Sprintf("_gid_e2e%05d", i) }
func siteOf(i int) string { return fmt.Sprintf("site-%05d", i) }
func ctxTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// workload returns n valid events of users users, interleaved at random but
// in order per user: users with an even index get user.registered events,
// the others account.linked events (the first links uid → siteUID, the
// rest are the same link again, as a producer retry would send, and must
// end as already_done).
func (w *world) workload(n, users int, seed uint64) []kafka.Message {
	rng := rand.New(rand.NewPCG(seed, 1))
	next := make([]int, users)
	per := n / users
	var out []kafka.Message
	alive := make([]int, users)
	for i := range alive {
		alive[i] = i
	}
	for len(out) < per*users {
		k := rng.IntN(len(alive))
		u := alive[k]
		id := fmt.Sprintf("%su%05d-%03d", validPrefix, u, next[u])
		if u%2 == 0 {
			out = append(out, w.Registered(id, uidOf(u)))
		} else {
			out = append(out, w.Linked(id, uidOf(u), siteOf(u)))
		}
		next[u]++
		if next[u] == per {
			alive[k] = alive[len(alive)-1]
			alive = alive[:len(alive)-1]
		}
	}
	return out
}

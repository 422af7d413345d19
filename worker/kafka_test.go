package worker_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/regnotify/regnotify/worker"
	"github.com/regnotify/regnotify/worker/deadletter"
	"github.com/regnotify/regnotify/worker/kafkatest"
	"github.com/regnotify/regnotify/worker/wait"
)

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// kgoRecords are msgs as franz-go records for partition 0.
func kgoRecords(msgs ...kafka.Message) []*kgo.Record {
	out := make([]*kgo.Record, len(msgs))
	for i, m := range msgs {
		// The pad makes each batch compressible, so that the codec is
		// really used (a producer may send a batch uncompressed when
		// compression does not pay).
		out[i] = &kgo.Record{Topic: m.Topic, Partition: 0, Key: m.Key, Value: m.Value,
			Headers: []kgo.RecordHeader{{Key: "pad", Value: bytes.Repeat([]byte("x"), 512)}}}
	}
	return out
}

// inTxn produces msgs in one transaction of cl and commits or aborts it.
func inTxn(t *testing.T, cl *kgo.Client, commit bool, msgs ...kafka.Message) {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, kgoRecords(msgs...)...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatal(err)
	}
}

// TestTransactionsReachGigyaOnlyWhenCommitted: franz-go's transactional
// producer commits A, aborts B, commits A2, leaves a transaction open until
// the broker aborts it at its timeout, with plain records in between, under
// every compression codec: only the committed and plain records' users are
// linked, and the group's commits reach the end of the partition (over the
// transaction markers).
func TestTransactionsReachGigyaOnlyWhenCommitted(t *testing.T) {
	for _, c := range []struct {
		name  string
		codec kgo.CompressionCodec
	}{
		{"none", kgo.NoCompression()}, {"gzip", kgo.GzipCompression()}, {"snappy", kgo.SnappyCompression()},
		{"lz4", kgo.Lz4Compression()}, {"zstd", kgo.ZstdCompression()},
	} {
		t.Run(c.name, func(t *testing.T) { testTransactions(t, kgo.ProducerBatchCompression(c.codec)) })
	}
}

func testTransactions(t *testing.T, codec kgo.Opt) {
	h := newHarness(t)
	h.cfg.Topics = []string{h.link}
	tx := h.kc.Client(t, codec, kgo.TransactionalID(h.link+"-tx"))
	open := h.kc.Client(t, codec, kgo.TransactionalID(h.link+"-open"), kgo.TransactionTimeout(time.Second))
	plain := h.kc.Client(t, codec)
	ev := func(i int) kafka.Message { return h.linkedEvent("e-"+siteOf(i), uidOf(i), siteOf(i)) }

	inTxn(t, tx, true, ev(1), ev(2))  // A
	inTxn(t, tx, false, ev(3), ev(4)) // B
	if err := plain.ProduceSync(ctxT(t, 30*time.Second), kgoRecords(ev(5))...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	inTxn(t, tx, true, ev(6)) // A2
	if err := open.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := open.ProduceSync(ctxT(t, 30*time.Second), kgoRecords(ev(7))...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	r := h.start(t, h.cfg)
	// Behind the open transaction: held back until the broker aborts it.
	if err := plain.ProduceSync(ctxT(t, 30*time.Second), kgoRecords(ev(8))...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	h.waitDone(t, h.cfg, 60*time.Second)

	for i, want := range map[int]bool{1: true, 2: true, 3: false, 4: false, 5: true, 6: true, 7: false, 8: true} {
		if _, linked := h.sim.Linked(siteOf(i)); linked != want {
			t.Errorf("%s linked = %v; want %v", siteOf(i), linked, want)
		}
	}
	if got := outcome(r.metrics, h.link, worker.OutcomeNotified); got != 5 {
		t.Errorf("notified = %d; want 5 (A, A2, two plain records)", got)
	}
	if err := open.EndTransaction(ctxT(t, 30*time.Second), kgo.TryCommit); err == nil {
		t.Error("committing the timed-out transaction succeeded; want the broker to have aborted it")
	}
}

// TestMarkerShapedRecordIsAnInvalidEvent: a plain record whose key is 4
// zero bytes and whose value is 6 zero bytes (the shape of a transaction
// marker) is an event like any other: an invalid_event dead letter, not a
// silently committed "marker".
func TestMarkerShapedRecordIsAnInvalidEvent(t *testing.T) {
	h := newHarness(t)
	for _, key := range [][]byte{{0, 0, 0, 0}, {0, 0, 0, 1}} {
		h.kc.Produce(t, kafka.Message{Topic: h.reg, Key: key, Value: make([]byte, 6)})
	}
	r := h.start(t, h.cfg)
	h.waitDone(t, h.cfg, 30*time.Second)
	dead := h.kc.ReadAll(t, h.dlq)
	if len(dead) != 2 {
		t.Fatalf("dead letters = %d; want 2", len(dead))
	}
	for _, d := range dead {
		if hd := dlqHeaders(d); hd[deadletter.HeaderErrorClass] != deadletter.ClassInvalidEvent {
			t.Errorf("dead letter of key %x: class %q; want %q", d.Key, hd[deadletter.HeaderErrorClass], deadletter.ClassInvalidEvent)
		}
		if string(d.Value) != string(make([]byte, 6)) {
			t.Errorf("dead letter value = %x; want the record's 6 zero bytes", d.Value)
		}
	}
	if got := outcome(r.metrics, h.reg, worker.OutcomeDLQInvalid); got != 2 {
		t.Errorf("dlq_invalid = %d; want 2", got)
	}
}

// cpuSeconds is the process's user+system CPU time.
func cpuSeconds(t *testing.T) float64 {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func joins(m *worker.Metrics, result string) int {
	return int(metricVec(m, "regnotify_group_joins_total", map[string]string{"result": result}).value())
}

func missing(m *worker.Metrics, topic string) float64 {
	return metricVec(m, "regnotify_topic_missing", map[string]string{"topic": topic}).value()
}

// TestMissingTopicDoesNotStopTheOthers: with a consumed topic that does not
// exist, the existing one is consumed, the missing one is reported (metric,
// one warning within a minute however often it is checked), the group is
// joined once and the process idles (CPU a small fraction of wall time,
// counting the in-process broker). Once created, the topic is consumed
// after one rejoin.
func TestMissingTopicDoesNotStopTheOthers(t *testing.T) {
	h := newHarness(t)
	core, logs := observer.New(zap.WarnLevel)
	h.log = zap.New(core)
	later := h.kc.Topic("created.later")
	h.cfg.Topics = []string{h.reg, later}
	h.cfg.TopicCheckInterval = 50 * time.Millisecond
	for i := range 5 {
		h.kc.Produce(t, h.registeredEvent("r-"+siteOf(i), uidOf(i)))
	}
	r := h.start(t, h.cfg)
	h.kc.WaitCaughtUp(t, 30*time.Second, h.cfg.Group, h.reg)
	if got := outcome(r.metrics, h.reg, worker.OutcomeNotified); got != 5 {
		t.Fatalf("notified on the existing topic = %d; want 5", got)
	}
	if got := missing(r.metrics, later); got != 1 {
		t.Errorf("regnotify_topic_missing{%s} = %v; want 1", later, got)
	}

	// Idle for 2s: 40 topic checks, no rejoin, little CPU.
	joinsBefore, cpu0, wall0 := joins(r.metrics, "ok"), cpuSeconds(t), time.Now()
	time.Sleep(2 * time.Second)
	ratio := (cpuSeconds(t) - cpu0) / time.Since(wall0).Seconds()
	t.Logf("idle CPU/wall = %.3f", ratio)
	if ratio > 0.3 {
		t.Errorf("idle CPU/wall = %.2f; want < 0.3 (a rejoin loop took 0.6)", ratio)
	}
	if got := joins(r.metrics, "ok") - joinsBefore; got != 0 {
		t.Errorf("joins while idle = %d; want 0", got)
	}
	if got := joins(r.metrics, "ok") + joins(r.metrics, "error"); got > 2 {
		t.Errorf("join attempts so far = %d; want at most 2", got)
	}
	if n := logs.FilterMessageSnippet("does not exist").FilterField(zap.String("topic", later)).Len(); n != 1 {
		t.Errorf("missing-topic warnings = %d; want 1 (at most one a minute)", n)
	}
	if !r.w.Ready() || !r.w.Healthy() {
		t.Errorf("Ready, Healthy = %v, %v; want both true (the existing topic is consumed)", r.w.Ready(), r.w.Healthy())
	}

	h.kc.CreateTopics(t, later)
	h.kc.Produce(t, kafka.Message{Topic: later, Key: []byte(uidOf(9)), Value: h.registeredEvent("r-later", uidOf(9)).Value})
	h.kc.WaitCaughtUp(t, 60*time.Second, h.cfg.Group, h.reg, later)
	if got := outcome(r.metrics, later, worker.OutcomeDLQInvalid) + outcome(r.metrics, later, worker.OutcomeNotified); got != 1 {
		t.Errorf("events ended on the created topic = %d; want 1", got)
	}
	if got := missing(r.metrics, later); got != 0 {
		t.Errorf("regnotify_topic_missing{%s} = %v after creation; want 0", later, got)
	}
	if got := joins(r.metrics, "ok"); got != 2 {
		t.Errorf("joins = %d; want 2 (once at start, once after the topic appeared)", got)
	}
	if st := r.w.TopicState(); st.Partitions[later] == 0 || len(st.Missing) != 0 {
		t.Errorf("TopicState = %+v; want %s known with its partitions, none missing", st, later)
	}
}

// TestNoTopicExists: with no consumed topic at all the worker joins no
// group, reports the topics missing and not ready, stays healthy (it
// waits, it is not stuck), and consumes once a topic appears.
func TestNoTopicExists(t *testing.T) {
	h := newHarness(t)
	a := h.kc.Topic("not.yet")
	h.cfg.Topics = []string{a}
	h.cfg.TopicCheckInterval = 50 * time.Millisecond
	r := h.start(t, h.cfg)
	wait.Eventually(t, 10*time.Second, "topic reported missing", func() bool { return missing(r.metrics, a) == 1 })
	time.Sleep(300 * time.Millisecond)
	if got := joins(r.metrics, "ok") + joins(r.metrics, "error"); got != 0 {
		t.Errorf("join attempts without any topic = %d; want 0", got)
	}
	rec := httptest.NewRecorder()
	r.w.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d; want 503", rec.Code)
	}
	if !r.w.Healthy() {
		t.Error("Healthy = false while waiting for a topic; want true")
	}
	h.kc.CreateTopics(t, a)
	h.kc.Produce(t, kafka.Message{Topic: a, Key: []byte("k"), Value: []byte("{}")})
	h.kc.WaitCaughtUp(t, 60*time.Second, h.cfg.Group, a)
	wait.Eventually(t, 10*time.Second, "ready once the topic exists", r.w.Ready)
}

// TestTopicDeletedMidRunAndCreatedAgain: a consumed topic deleted while the
// worker runs is reported missing and the other topic keeps flowing; when
// it is created again it is consumed again.
func TestTopicDeletedMidRunAndCreatedAgain(t *testing.T) {
	h := newHarness(t)
	h.cfg.TopicCheckInterval = 50 * time.Millisecond
	h.kc.Produce(t, h.registeredEvent("r-0", uidOf(0)), h.linkedEvent("l-0", uidOf(100), siteOf(0)))
	r := h.start(t, h.cfg)
	h.waitDone(t, h.cfg, 30*time.Second)

	kafkatest.DeleteTopic(t, h.kc.Client(t), h.link)
	wait.Eventually(t, 30*time.Second, "deleted topic reported missing", func() bool { return missing(r.metrics, h.link) == 1 })
	for i := 1; i <= 5; i++ {
		h.kc.Produce(t, h.registeredEvent("r-"+siteOf(i), uidOf(i)))
	}
	h.kc.WaitCaughtUp(t, 60*time.Second, h.cfg.Group, h.reg)
	if got := outcome(r.metrics, h.reg, worker.OutcomeNotified); got != 6 {
		t.Errorf("notified on the remaining topic = %d; want 6", got)
	}

	h.kc.CreateTopics(t, h.link)
	h.kc.Produce(t, h.linkedEvent("l-1", uidOf(101), siteOf(1)))
	h.waitDone(t, h.cfg, 60*time.Second)
	if uid, ok := h.sim.Linked(siteOf(1)); !ok || uid != uidOf(101) {
		t.Errorf("after re-creation %s linked to %q (%v); want %s", siteOf(1), uid, ok, uidOf(101))
	}
	if got := missing(r.metrics, h.link); got != 0 {
		t.Errorf("regnotify_topic_missing = %v after re-creation; want 0", got)
	}
}

// TestOffsetsOutOfRange: the group's committed offset fell out of the log
// (records deleted as retention would, while the worker was down): the
// worker resets as --start-offset says, warns naming the partition and the
// skipped count, counts both in metrics, and consumes what follows.
func TestOffsetsOutOfRange(t *testing.T) {
	for _, tc := range []struct {
		start        string
		wantSkipped  int // of the 10 records produced while down, the first 6 deleted
		wantNotified int // in the second run: what is left of the 10, and 2 more
	}{
		{"earliest", 6, 4 + 2},
		{"latest", 10, 2},
	} {
		t.Run(tc.start, func(t *testing.T) {
			h := newHarness(t)
			h.cfg.Topics = []string{h.reg}
			h.cfg.StartOffset = tc.start
			cl := h.kc.Client(t)
			produceN := func(from, n int) {
				var msgs []kafka.Message
				for i := from; i < from+n; i++ {
					msgs = append(msgs, h.registeredEvent("r-"+siteOf(i), uidOf(i)))
				}
				if err := cl.ProduceSync(ctxT(t, 30*time.Second), kgoRecords(msgs...)...).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
			produceN(0, 3)
			if tc.start == "latest" {
				h.cfg.StartOffset = "earliest" // the first run reads them; latest matters at the reset
			}
			first := h.start(t, h.cfg)
			h.waitDone(t, h.cfg, 30*time.Second)
			first.stop(t)

			produceN(3, 10)                                  // offsets 3..12, while the worker is down
			kafkatest.DeleteRecordsBefore(t, cl, h.reg, 3+6) // retention takes 3..8: the committed 3 is gone
			core, logs := observer.New(zap.WarnLevel)
			h.log = zap.New(core)
			h.cfg.StartOffset = tc.start
			r := h.start(t, h.cfg)
			wait.Eventually(t, 30*time.Second, "offset reset counted", func() bool {
				return metricVec(r.metrics, "regnotify_offset_resets_total", map[string]string{"topic": h.reg, "partition": "0"}).value() == 1
			})
			produceN(13, 2)
			h.waitDone(t, h.cfg, 30*time.Second)
			if got := outcome(r.metrics, h.reg, worker.OutcomeNotified); got != tc.wantNotified {
				t.Errorf("notified after the reset = %d; want %d", got, tc.wantNotified)
			}
			if got := metricVec(r.metrics, "regnotify_offsets_skipped_total", map[string]string{"topic": h.reg, "partition": "0"}).value(); int(got) != tc.wantSkipped {
				t.Errorf("regnotify_offsets_skipped_total = %v; want %d", got, tc.wantSkipped)
			}
			warns := logs.FilterMessageSnippet("out of range").AllUntimed()
			if len(warns) != 1 {
				t.Fatalf("reset warnings = %d; want 1", len(warns))
			}
			f := warns[0].ContextMap()
			if f["partition"] != int64(0) || f["skipped"] != int64(tc.wantSkipped) || f["policy"] != tc.start {
				t.Errorf("warning fields = %v; want partition 0, skipped %d, policy %s", f, tc.wantSkipped, tc.start)
			}
		})
	}
}

// TestStuckConsumerIsNotHealthy: a worker whose joins keep failing does
// not pass for a healthy one once the loop has not turned for the limit
// (the clock is advanced), and is healthy again once it consumes.
func TestStuckConsumerIsNotHealthy(t *testing.T) {
	h := newHarness(t)
	var skew atomic.Int64
	h.cfg.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	var failJoins atomic.Bool
	failJoins.Store(true)
	h.kc.Fake.ControlKey(int16(kmsg.JoinGroup), func(req kmsg.Request) (kmsg.Response, error, bool) {
		h.kc.Fake.KeepControl()
		if !failJoins.Load() {
			return nil, nil, false
		}
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil, true
	})
	h.kc.Produce(t, h.registeredEvent("r-1", uidOf(1)))
	r := h.start(t, h.cfg)
	wait.Eventually(t, 30*time.Second, "two failed joins", func() bool { return joins(r.metrics, "error") >= 2 })
	skew.Store(int64(3 * time.Minute))
	if r.w.Healthy() {
		t.Error("Healthy = true after 3 minutes of failing joins; want false")
	}
	rec := httptest.NewRecorder()
	r.w.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "stuck") {
		t.Errorf("/healthz = %d %q; want 503 loop stuck", rec.Code, rec.Body.String())
	}
	failJoins.Store(false)
	h.waitDone(t, h.cfg, 60*time.Second)
	wait.Eventually(t, 10*time.Second, "healthy once consuming", r.w.Healthy)
}

// TestPartitionsAddedAreConsumed: partitions added to a consumed topic
// change the group's assignment (kafka-go's own partition watcher is off):
// a record on a new partition is consumed.
func TestPartitionsAddedAreConsumed(t *testing.T) {
	h := newHarness(t)
	h.cfg.Topics = []string{h.reg}
	h.cfg.TopicCheckInterval = 50 * time.Millisecond
	r := h.start(t, h.cfg)
	wait.Eventually(t, 30*time.Second, "joined", r.w.Ready)
	cl := h.kc.Client(t)
	req := kmsg.NewPtrCreatePartitionsRequest()
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = h.reg, 6
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	resp, err := req.RequestWith(ctxT(t, 30*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range resp.Topics {
		if err := kerr.ErrorForCode(tp.ErrorCode); err != nil {
			t.Fatalf("create partitions: %v", err)
		}
	}
	m := h.registeredEvent("r-new", uidOf(1))
	rec := kgoRecords(m)[0]
	rec.Partition = 5
	if err := cl.ProduceSync(ctxT(t, 30*time.Second), rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	wait.Eventually(t, 60*time.Second, "the record on the new partition notified", func() bool {
		return outcome(r.metrics, h.reg, worker.OutcomeNotified) == 1
	})
	if st := r.w.TopicState(); st.Partitions[h.reg] != 6 {
		t.Errorf("TopicState partitions of %s = %d; want 6", h.reg, st.Partitions[h.reg])
	}
	if got := joins(r.metrics, "ok"); got != 2 {
		t.Errorf("joins = %d; want 2 (at start, after the partitions were added)", got)
	}
}

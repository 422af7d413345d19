package worker_test

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/regnotify/regnotify/events"
	"github.com/regnotify/regnotify/events/eventstest"
	"github.com/regnotify/regnotify/gigya/gigyasim"
	"github.com/regnotify/regnotify/worker"
	"github.com/regnotify/regnotify/worker/deadletter"
	"github.com/regnotify/regnotify/worker/wait"
)

func TestHappyPathBothTypes(t *testing.T) {
	h := newHarness(t)
	const n = 100
	var msgs []kafka.Message
	for i := range n {
		msgs = append(msgs, h.registeredEvent(fmt.Sprintf("r-%d", i), uidOf(i)))
		msgs = append(msgs, h.linkedEvent(fmt.Sprintf("l-%d", i), uidOf(1000+i), siteOf(i)))
	}
	h.kc.Produce(t, msgs...)
	r := h.start(t, h.cfg)
	h.waitDone(t, h.cfg, 30*time.Second)

	if got := outcome(r.metrics, h.reg, worker.OutcomeNotified); got != n {
		t.Errorf("user.registered notified = %d, want %d", got, n)
	}
	if got := outcome(r.metrics, h.link, worker.OutcomeNotified); got != n {
		t.Errorf("account.linked notified = %d, want %d", got, n)
	}
	for i := range n {
		if uid, ok := h.sim.Linked(siteOf(i)); !ok || uid != uidOf(1000+i) {
			t.Fatalf("simulator: siteUID %s linked to %q (%v), want %s", siteOf(i), uid, ok, uidOf(1000+i))
		}
	}
	if got := len(h.kc.ReadAll(t, h.dlq)); got != 0 {
		t.Errorf("dead letters = %d, want 0", got)
	}
	if got := metricVec(r.metrics, "regnotify_gigya_requests_total", map[string]string{"method": "socialize.notifyRegistration", "code": "0"}).value(); got != 2*n {
		t.Errorf("regnotify_gigya_requests_total{code=0} = %v, want %d", got, 2*n)
	}
}

func TestInvalidEventsAreDeadLetteredWithHeaders(t *testing.T) {
	h := newHarness(t)
	h.cfg.Topics = append(h.cfg.Topics, h.untyped)
	bad := eventstest.BadRecords()
	topicOf := map[string]string{"user.registered": h.reg, "account.linked": h.link, eventstest.UntypedTopic: h.untyped}
	var msgs []kafka.Message
	for i, b := range bad {
		topic, ok := topicOf[b.Topic]
		if !ok {
			t.Fatalf("bad record %q on unexpected topic %q", b.Name, b.Topic)
		}
		msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte("k" + strconv.Itoa(i)), Value: b.Value,
			Headers: []kafka.Header{{Key: "test-name", Value: []byte(b.Name)}, {Key: "trace", Value: []byte("t-1")}}})
	}
	before := time.Now().Add(-time.Second)
	h.kc.Produce(t, msgs...)
	r := h.start(t, h.cfg)
	h.waitDone(t, h.cfg, 30*time.Second)

	dead := h.kc.ReadAll(t, h.dlq)
	if len(dead) != len(bad) {
		t.Fatalf("dead letters = %d, want %d (one per bad record)", len(dead), len(bad))
	}
	byName := map[string]eventstest.BadRecord{}
	for _, b := range bad {
		byName[b.Name] = b
	}
	for _, d := range dead {
		hd := dlqHeaders(d)
		b, ok := byName[hd["test-name"]]
		if !ok {
			t.Fatalf("dead letter without its original test-name header: %v", hd)
		}
		if hd["trace"] != "t-1" {
			t.Errorf("%s: original header trace = %q, want t-1", b.Name, hd["trace"])
		}
		if string(d.Value) != string(b.Value) {
			t.Errorf("%s: value changed in the dead-letter record", b.Name)
		}
		if hd[deadletter.HeaderErrorClass] != deadletter.ClassInvalidEvent {
			t.Errorf("%s: class = %q, want %q", b.Name, hd[deadletter.HeaderErrorClass], deadletter.ClassInvalidEvent)
		}
		msg := hd[deadletter.HeaderErrorMessage]
		if b.WantField != "" && !contains(msg, `"`+b.WantField+`"`) {
			t.Errorf("%s: message %q does not name field %q", b.Name, msg, b.WantField)
		}
		if !contains(msg, b.WantText) {
			t.Errorf("%s: message %q does not contain %q", b.Name, msg, b.WantText)
		}
		if _, has := hd[deadletter.HeaderErrorCode]; has {
			t.Errorf("%s: an invalid event has an error code header %q", b.Name, hd[deadletter.HeaderErrorCode])
		}
		wantTopic := topicOf[b.Topic]
		if hd[deadletter.HeaderOriginalTopic] != wantTopic {
			t.Errorf("%s: original topic = %q, want %q", b.Name, hd[deadletter.HeaderOriginalTopic], wantTopic)
		}
		if _, err := strconv.Atoi(hd[deadletter.HeaderOriginalPartition]); err != nil {
			t.Errorf("%s: original partition %q: %v", b.Name, hd[deadletter.HeaderOriginalPartition], err)
		}
		if _, err := strconv.ParseInt(hd[deadletter.HeaderOriginalOffset], 10, 64); err != nil {
			t.Errorf("%s: original offset %q: %v", b.Name, hd[deadletter.HeaderOriginalOffset], err)
		}
		for _, k := range []string{deadletter.HeaderOriginalTimestamp, deadletter.HeaderFailedAt} {
			ts, err := time.Parse(time.RFC3339Nano, hd[k])
			if err != nil || ts.Before(before) {
				t.Errorf("%s: %s = %q (%v), want an RFC 3339 time after the test began", b.Name, k, hd[k], err)
			}
		}
		if hd[deadletter.HeaderConsumerGroup] != h.cfg.Group {
			t.Errorf("%s: group = %q, want %q", b.Name, hd[deadletter.HeaderConsumerGroup], h.cfg.Group)
		}
		if hd[deadletter.HeaderAttempts] != "0" {
			t.Errorf("%s: attempts = %q, want 0 (Gigya not called)", b.Name, hd[deadletter.HeaderAttempts])
		}
	}
	if st := h.sim.Stats(); len(st.Calls) != 0 {
		t.Errorf("simulator got calls %v for invalid events, want none", st.Calls)
	}
	total := 0
	for _, tp := range h.cfg.Topics {
		total += outcome(r.metrics, tp, worker.OutcomeDLQInvalid)
	}
	if total != len(bad) {
		t.Errorf("dlq_invalid = %d, want %d", total, len(bad))
	}
}

func TestPermanentErrorIsDeadLetteredAtOnce(t *testing.T) {
	h := newHarness(t)
	// Two accounts claim the same siteUID: the second gets 409001.
	h.kc.Produce(t, h.linkedEvent("first", uidOf(1), "shared-site-uid"))
	r := h.start(t, h.cfg)
	h.waitDone(t, h.cfg, 20*time.Second)
	h.kc.Produce(t, h.linkedEvent("second", uidOf(2), "shared-site-uid"))
	h.waitDone(t, h.cfg, 20*time.Second)

	dead := h.kc.ReadAll(t, h.dlq)
	if len(dead) != 1 {
		t.Fatalf("dead letters = %d, want 1", len(dead))
	}
	hd := dlqHeaders(dead[0])
	want := map[string]string{
		deadletter.HeaderErrorClass: deadletter.ClassRejected, deadletter.HeaderErrorCode: "409001", deadletter.HeaderAttempts: "1",
	}
	for k, v := range want {
		if hd[k] != v {
			t.Errorf("header %s = %q, want %q", k, hd[k], v)
		}
	}
	if hd[deadletter.HeaderGigyaCallID] == "" {
		t.Errorf("no %s header on a Gigya rejection", deadletter.HeaderGigyaCallID)
	}
	if got := outcome(r.metrics, h.link, worker.OutcomeDLQRejected); got != 1 {
		t.Errorf("dlq_rejected = %d, want 1", got)
	}
}

func TestTransientFailuresThenSuccess(t *testing.T) {
	h := newHarness(t)
	h.sim.SetFaults(gigyasim.Faults{ErrorRate: 0.4})
	const n = 200
	var msgs []kafka.Message
	for i := range n {
		msgs = append(msgs, h.linkedEvent(fmt.Sprintf("l-%d", i), uidOf(i), siteOf(i)))
	}
	h.kc.Produce(t, msgs...)
	r := h.start(t, h.cfg)
	h.waitDone(t, h.cfg, 60*time.Second)
	if got := outcome(r.metrics, h.link, worker.OutcomeNotified); got != n {
		t.Errorf("notified = %d, want %d", got, n)
	}
	if got := len(h.kc.ReadAll(t, h.dlq)); got != 0 {
		t.Errorf("dead letters = %d, want 0", got)
	}
	if got := metricVec(r.metrics, "regnotify_retries_total", nil).value(); got < 10 {
		t.Errorf("retries = %v, want many at a 40%% error rate", got)
	}
	if got := h.sim.Stats().Linked; got != n {
		t.Errorf("simulator linked = %d, want %d", got, n)
	}
}

func TestRetriesExhausted(t *testing.T) {
	h := newHarness(t)
	h.cfg.RetryMaxElapsed = 300 * time.Millisecond
	h.sim.SetFaults(gigyasim.Faults{Outage: gigyasim.OutageError})
	// One user only: a single user's failures never count as a Gigya outage.
	h.kc.Produce(t, h.registeredEvent("only", uidOf(7)))
	r := h.start(t, h.cfg)
	h.waitDone(t, h.cfg, 20*time.Second)
	dead := h.kc.ReadAll(t, h.dlq)
	if len(dead) != 1 {
		t.Fatalf("dead letters = %d, want 1", len(dead))
	}
	hd := dlqHeaders(dead[0])
	if hd[deadletter.HeaderErrorClass] != deadletter.ClassRetriesExhausted || hd[deadletter.HeaderErrorCode] != "500001" {
		t.Errorf("class, code = %q, %q; want retries_exhausted, 500001", hd[deadletter.HeaderErrorClass], hd[deadletter.HeaderErrorCode])
	}
	if n, _ := strconv.Atoi(hd[deadletter.HeaderAttempts]); n < 3 {
		t.Errorf("attempts = %q, want several", hd[deadletter.HeaderAttempts])
	}
	if got := outcome(r.metrics, h.reg, worker.OutcomeDLQExhausted); got != 1 {
		t.Errorf("dlq_exhausted = %d, want 1", got)
	}
}

func TestOutagePausesWithoutDeadLetters(t *testing.T) {
	h := newHarness(t)
	// The retry budget is far shorter than the outage: only the outage
	// pause keeps events out of the dead-letter topic.
	h.cfg.RetryMaxElapsed = 500 * time.Millisecond
	const n = 300
	var msgs []kafka.Message
	for i := range n {
		msgs = append(msgs, h.linkedEvent(fmt.Sprintf("l-%d", i), uidOf(i), siteOf(i)))
	}
	h.sim.SetFaults(gigyasim.Faults{Outage: gigyasim.OutageError})
	h.kc.Produce(t, msgs...)
	r := h.start(t, h.cfg)

	outage := metricVec(r.metrics, "regnotify_gigya_outage", nil)
	deadline := time.Now().Add(10 * time.Second)
	for outage.value() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("regnotify_gigya_outage never went to 1 during the outage")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // six retry budgets long
	if got := len(h.kc.ReadAll(t, h.dlq)); got != 0 {
		t.Fatalf("dead letters during the outage = %d, want 0", got)
	}
	h.sim.SetFaults(gigyasim.Faults{})
	h.waitDone(t, h.cfg, 60*time.Second)
	if got := outcome(r.metrics, h.link, worker.OutcomeNotified); got != n {
		t.Errorf("notified = %d, want %d", got, n)
	}
	if got := len(h.kc.ReadAll(t, h.dlq)); got != 0 {
		t.Errorf("dead letters = %d, want 0", got)
	}
	if got := outage.value(); got != 0 {
		t.Errorf("regnotify_gigya_outage = %v after recovery, want 0", got)
	}
	// The pause kept calls down: without it 300 events retrying every
	// few ms for 3 s would make many thousands.
	failed := h.sim.Stats().Calls[gigyasim.MethodNotifyRegistration]["500001"]
	if failed > 50*n {
		t.Errorf("%d failed calls during the outage: the worker did not pause", failed)
	}
}

func TestRedeliveredLinksEndAlreadyDone(t *testing.T) {
	h := newHarness(t)
	const n = 50
	var msgs []kafka.Message
	for i := range n {
		msgs = append(msgs, h.linkedEvent(fmt.Sprintf("l-%d", i), uidOf(i), siteOf(i)))
	}
	h.kc.Produce(t, msgs...)
	first := h.start(t, h.cfg)
	h.waitDone(t, h.cfg, 30*time.Second)
	first.stop(t)

	// A second group reads the same events again: a redelivery.
	again := h.cfg
	again.Group = h.kc.Group("second")
	r := h.start(t, again)
	h.waitDone(t, again, 30*time.Second)
	if got := outcome(r.metrics, h.link, worker.OutcomeAlreadyDone); got != n {
		t.Errorf("already_done = %d, want %d", got, n)
	}
	if got := len(h.kc.ReadAll(t, h.dlq)); got != 0 {
		t.Errorf("dead letters = %d, want 0", got)
	}
}

func TestPerKeyOrderUnderConcurrency(t *testing.T) {
	h := newHarness(t)
	h.cfg.Concurrency = 64
	h.sim.SetFaults(gigyasim.Faults{ErrorRate: 0.2, Latency: time.Millisecond, Jitter: time.Millisecond})
	const users, perUser = 40, 15
	var msgs []kafka.Message
	for s := range perUser {
		for u := range users {
			msgs = append(msgs, h.registeredEvent(fmt.Sprintf("u%d-%03d", u, s), uidOf(u)))
		}
	}
	h.kc.Produce(t, msgs...)
	r := h.start(t, h.cfg)
	h.waitDone(t, h.cfg, 60*time.Second)
	if got := outcome(r.metrics, h.reg, worker.OutcomeNotified); got != users*perUser {
		t.Fatalf("notified = %d, want %d", got, users*perUser)
	}
	for u := range users {
		var order []string
		for _, c := range h.sim.Calls(uidOf(u)) {
			// A retry after an ambiguous failure (a client timeout on a
			// loaded machine) can succeed a second time right after the
			// first: at-least-once allows that repeat, not a reordering.
			if c.Code == 0 && c.Method == gigyasim.MethodNotifyRegistration &&
				(len(order) == 0 || order[len(order)-1] != c.Context) {
				order = append(order, c.Context)
			}
		}
		if len(order) != perUser || !slices.IsSorted(order) {
			t.Fatalf("user %d: successful calls in order %v, want %d in event order", u, order, perUser)
		}
	}
	if peak := h.sim.Stats().PeakInFlight; peak < 2 {
		t.Errorf("simulator saw at most %d calls at once, want different users concurrently", peak)
	}
}

func TestUIDSigIsFreshForOldEvents(t *testing.T) {
	h := newHarness(t)
	old := time.Now().Add(-6 * time.Hour).UTC().Truncate(time.Second)
	v, err := events.Encode(events.Event{EventID: "old", Type: events.AccountLinked, OccurredAt: old, UID: uidOf(1), SiteUID: siteOf(1)})
	if err != nil {
		t.Fatal(err)
	}
	h.kc.Produce(t, kafka.Message{Topic: h.link, Key: []byte(uidOf(1)), Value: v, Time: old})
	r := h.start(t, h.cfg)
	h.waitDone(t, h.cfg, 20*time.Second)
	if got := outcome(r.metrics, h.link, worker.OutcomeNotified); got != 1 {
		t.Fatalf("notified = %d, want 1", got)
	}
	calls := h.sim.Calls(uidOf(1))
	if len(calls) != 1 || calls[0].Code != 0 {
		t.Errorf("simulator calls = %+v, want one success: the UIDSig must be signed at the attempt, not at occurredAt", calls)
	}
}

func TestStopMidStreamAndRestartLosesNothing(t *testing.T) {
	h := newHarness(t)
	h.sim.SetFaults(gigyasim.Faults{Latency: 2 * time.Millisecond})
	cfg := h.cfg
	cfg.ShutdownTimeout = time.Millisecond // abandon in-flight events
	cfg.CommitInterval = time.Hour         // commit only at the end of a generation
	const n = 2000
	var msgs []kafka.Message
	for i := range n {
		msgs = append(msgs, h.linkedEvent(fmt.Sprintf("l-%d", i), uidOf(i), siteOf(i)))
	}
	h.kc.Produce(t, msgs...)
	for round := 0; round < 3; round++ {
		r := h.start(t, cfg)
		time.Sleep(300 * time.Millisecond)
		r.stop(t)
	}
	cfg.CommitInterval = 50 * time.Millisecond
	r := h.start(t, cfg)
	h.waitDone(t, cfg, 60*time.Second)
	r.stop(t)
	for i := range n {
		if uid, ok := h.sim.Linked(siteOf(i)); !ok || uid != uidOf(i) {
			t.Fatalf("event %d lost: siteUID %s not linked", i, siteOf(i))
		}
	}
	if got := len(h.kc.ReadAll(t, h.dlq)); got != 0 {
		t.Errorf("dead letters = %d, want 0 (redeliveries must end already_done)", got)
	}
}

func TestTwoWorkersOneLeavesMidStream(t *testing.T) {
	h := newHarness(t)
	h.sim.SetFaults(gigyasim.Faults{Latency: 2 * time.Millisecond})
	const n = 3000
	var msgs []kafka.Message
	for i := range n {
		msgs = append(msgs, h.linkedEvent(fmt.Sprintf("l-%d", i), uidOf(i), siteOf(i)))
	}
	a := h.start(t, h.cfg)
	b := h.start(t, h.cfg)
	// Both members in the group before the events arrive, and a leaves
	// once the work is under way: polled, not slept, so that a loaded
	// machine cannot move either moment.
	wait.Eventually(t, 30*time.Second, "both workers joined the group", func() bool { return a.w.Ready() && b.w.Ready() })
	h.kc.Produce(t, msgs...)
	ended := func(rs ...*running) int {
		n := 0
		for _, r := range rs {
			n += outcome(r.metrics, h.link, worker.OutcomeNotified) + outcome(r.metrics, h.link, worker.OutcomeAlreadyDone)
		}
		return n
	}
	wait.Eventually(t, 30*time.Second, "the work under way", func() bool { return ended(a, b) >= n/10 })
	a.stop(t)
	t.Logf("worker a left after %d of %d events had ended", ended(a, b), n)
	h.waitDone(t, h.cfg, 60*time.Second)
	for i := range n {
		if _, ok := h.sim.Linked(siteOf(i)); !ok {
			t.Fatalf("event %d lost: siteUID %s not linked", i, siteOf(i))
		}
	}
	if got := len(h.kc.ReadAll(t, h.dlq)); got != 0 {
		t.Errorf("dead letters = %d, want 0", got)
	}
	if done := ended(a, b); done < n {
		t.Errorf("events ended = %d, want at least %d", done, n)
	}
}

// A new group with --start-offset latest resolves "latest" once and commits
// it: events produced after the start are not skipped when the partitions
// change hands before any of them finished.
func TestStartOffsetLatestSurvivesARestart(t *testing.T) {
	h := newHarness(t)
	h.kc.Produce(t, h.linkedEvent("old", uidOf(999), siteOf(999))) // before the group: skipped by latest
	cfg := h.cfg
	cfg.StartOffset = "latest"
	cfg.ShutdownTimeout = time.Millisecond // abandon what is in flight
	if err := h.sim.SetFaults(gigyasim.Faults{Latency: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	first := h.start(t, cfg)
	deadline := time.Now().Add(20 * time.Second)
	for {
		// Ready: joined, start offsets resolved and committed soon after.
		com, err := h.kc.Committed(t.Context(), cfg.Group, h.link)
		if err == nil && first.w.Ready() && len(com) > 0 && allCommitted(com) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the group never committed its resolved start offsets (%v, %v)", com, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	const n = 20
	var msgs []kafka.Message
	for i := range n {
		msgs = append(msgs, h.linkedEvent(fmt.Sprintf("l-%d", i), uidOf(i), siteOf(i)))
	}
	h.kc.Produce(t, msgs...)
	time.Sleep(300 * time.Millisecond) // fetched, stuck in the 5 s latency
	first.stop(t)

	if err := h.sim.SetFaults(gigyasim.Faults{}); err != nil {
		t.Fatal(err)
	}
	h.start(t, cfg)
	h.waitDone(t, cfg, 30*time.Second)
	for i := range n {
		if _, ok := h.sim.Linked(siteOf(i)); !ok {
			t.Fatalf("event %d produced after the start was skipped", i)
		}
	}
	if _, ok := h.sim.Linked(siteOf(999)); ok {
		t.Error("the event produced before the group existed was processed, want it skipped (latest)")
	}
}

func allCommitted(com map[int]int64) bool {
	for _, off := range com {
		if off < 0 {
			return false
		}
	}
	return true
}

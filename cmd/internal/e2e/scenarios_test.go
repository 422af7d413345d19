package e2e_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/regnotify/regnotify/cmd/internal/e2e"
	"github.com/regnotify/regnotify/events/eventstest"
	"github.com/regnotify/regnotify/gigya/gigyasim"
	"github.com/regnotify/regnotify/worker/deadletter"
	"github.com/regnotify/regnotify/worker/wait"
)

// TestGigyaOutage fails every Gigya call for a while mid-stream, as 500001
// answers and as dropped connections. The retry budget (5 s) is shorter
// than the outage (20 s, as the issue asks): only the outage pause keeps events from being
// dead-lettered as retries_exhausted.
func TestGigyaOutage(t *testing.T) {
	n, users, outage := 2000, 200, 20*time.Second
	if testing.Short() {
		n, users, outage = 600, 60, 6*time.Second
	}
	for _, mode := range []string{gigyasim.OutageError, gigyasim.OutageDrop} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, e2e.EnvConfig{})
			w.produce(w.workload(n, users, 2)...)
			l := w.readLedger(w.Topics()...)
			// 300 calls/s: the work takes several seconds, the outage
			// begins after one.
			p := w.start(e2e.WorkerOptions{RateLimit: 300, RetryMaxElapsed: 5 * time.Second})
			time.Sleep(time.Second)
			if err := w.Sim.SetFaults(gigyasim.Faults{Outage: mode}); err != nil {
				t.Fatal(err)
			}
			began := time.Now()
			sawOpen := false
			for time.Since(began) < outage {
				if m, err := w.scrape(p); err == nil {
					if v, _ := m.Value("regnotify_gigya_outage"); v == 1 {
						sawOpen = true
					}
				}
				time.Sleep(200 * time.Millisecond)
			}
			if err := w.Sim.SetFaults(gigyasim.Faults{}); err != nil {
				t.Fatal(err)
			}
			if !sawOpen {
				t.Errorf("regnotify_gigya_outage never read 1 during the %v outage", outage)
			}
			w.waitCaughtUp(2 * time.Minute)
			m, err := w.scrape(p)
			if err != nil {
				t.Fatal(err)
			}
			if v, ok := m.Value("regnotify_gigya_outage"); !ok || v != 0 {
				t.Errorf("regnotify_gigya_outage = %v (present %v) after the outage, want 0", v, ok)
			}
			failed := simCodes(w.Sim, gigyasim.MethodNotifyRegistration)["500001"] + simCodes(w.Sim, gigyasim.MethodNotifyRegistration)["dropped"] +
				simCodes(w.Sim, gigyasim.MethodGetUserInfo)["500001"] + simCodes(w.Sim, gigyasim.MethodGetUserInfo)["dropped"]
			if failed == 0 {
				t.Fatalf("the outage failed no call: the test did not test anything")
			}
			r := w.account(l)
			w.requireNothingLost(r)
			if dead := len(w.dlq()); dead != 0 {
				t.Errorf("dead letters = %d, want 0", dead)
			}
			if st, err := p.Stop(20 * time.Second); err != nil || st.Code != 0 {
				t.Errorf("SIGTERM: %+v, %v; want exit 0", st, err)
			}
			t.Logf("outage %s %v: %d events, %d calls failed by it: lost %d, duplicates %d, dead letters %d",
				mode, outage, n, failed, len(r.lost), r.duplicates, r.deadLettered)
			w.checkNoSecrets()
		})
	}
}

// TestDeadLetterTopicFailing makes the broker refuse writes to the
// dead-letter topic while invalid events wait to be dead-lettered: the
// worker must report not ready, commit nothing past them, and recover with
// nothing lost once writes succeed again.
func TestDeadLetterTopicFailing(t *testing.T) {
	hold := 6 * time.Second
	if testing.Short() {
		hold = 3 * time.Second
	}
	w := newWorld(t, e2e.EnvConfig{})
	var msgs []kafka.Message
	valid := w.workload(600, 100, 3)
	msgs = append(msgs, valid[:100]...)
	const bad = 8
	for i := range bad {
		// Keys spread the bad records over the partitions.
		msgs = append(msgs, kafka.Message{Topic: w.RegisteredTopic, Key: []byte("bad-" + strconv.Itoa(i)), Value: []byte(`{"eventId":"bad-` + strconv.Itoa(i) + `"}`)})
	}
	msgs = append(msgs, valid[100:]...)
	w.produce(msgs...)
	l := w.readLedger(w.Topics()...)
	badAt := map[int]int64{} // partition → offset of its first bad record
	recs, err := w.Kafka.ReadAllContext(w.ctx, w.RegisteredTopic)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range recs {
		if strings.HasPrefix(string(m.Key), "bad-") {
			if o, ok := badAt[m.Partition]; !ok || m.Offset < o {
				badAt[m.Partition] = m.Offset
			}
		}
	}

	w.FailDLQWrites(true)
	p := w.startNoWait(e2e.WorkerOptions{})
	err = poll(w, 60*time.Second, func() bool {
		code, body, err := p.Ready(w.ctx)
		return err == nil && code == http.StatusServiceUnavailable && strings.Contains(body, "dead-letter")
	})
	if err != nil {
		t.Fatalf("/readyz never reported the failing dead-letter topic: %v", err)
	}
	checkCommits := func() {
		com, err := w.Committed(w.ctx, w.RegisteredTopic)
		if err != nil {
			t.Fatal(err)
		}
		for part, first := range badAt {
			if com[part] > first {
				t.Fatalf("partition %d committed to %d, past the undead-lettered event at %d", part, com[part], first)
			}
		}
	}
	until := time.Now().Add(hold)
	for time.Now().Before(until) {
		checkCommits()
		code, body, err := p.Ready(w.ctx)
		if err != nil || code != http.StatusServiceUnavailable {
			t.Fatalf("/readyz = %d %q (%v) while dead-letter writes fail, want 503", code, body, err)
		}
		if p.Exited() {
			t.Fatal("worker exited while dead-letter writes failed")
		}
		time.Sleep(250 * time.Millisecond)
	}
	m, err := w.scrape(p)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := m.Value("regnotify_dlq_write_failing"); v != 1 {
		t.Errorf("regnotify_dlq_write_failing = %v while failing, want 1", v)
	}
	rejects := w.DLQRejects()
	if rejects == 0 {
		t.Fatal("the broker rejected no dead-letter write")
	}
	w.FailDLQWrites(false)
	w.waitCaughtUp(60 * time.Second)
	if code, body, err := p.Ready(w.ctx); err != nil || code != http.StatusOK {
		t.Errorf("/readyz = %d %q (%v) after recovery, want 200", code, body, err)
	}
	dead := w.dlq()
	seen := map[string]int{}
	for _, d := range dead {
		seen[string(d.Key)]++
		if c, _ := e2e.Header(d, deadletter.HeaderErrorClass); c != deadletter.ClassInvalidEvent {
			t.Errorf("dead letter %s: class %q, want %q", d.Key, c, deadletter.ClassInvalidEvent)
		}
	}
	if len(seen) != bad {
		t.Errorf("dead-lettered %d distinct bad records, want %d", len(seen), bad)
	}
	r := w.account(l)
	w.requireNothingLost(r)
	if st, err := p.Stop(20 * time.Second); err != nil || st.Code != 0 {
		t.Errorf("SIGTERM: %+v, %v; want exit 0", st, err)
	}
	t.Logf("dlq failing %v: %d produce requests rejected; %d valid + %d bad events; dead letters %d (%d distinct); lost %d; duplicates %d; false dead letters %d",
		hold, rejects, len(valid), bad, len(dead), len(seen), len(r.lost), r.duplicates, r.deadLettered)
	w.checkNoSecrets()
}

// TestSlowRateLimitedGigya: 200 ms per call and a simulator rate limit
// below the worker's: everything is notified, 403048 answers are retried,
// per-user order holds.
func TestSlowRateLimitedGigya(t *testing.T) {
	n, users := 300, 50
	if testing.Short() {
		n, users = 120, 30
	}
	w := newWorld(t, e2e.EnvConfig{Sim: gigyasim.Config{Faults: gigyasim.Faults{Latency: 200 * time.Millisecond, RateLimit: 30}}})
	w.produce(w.workload(n, users, 4)...)
	l := w.readLedger(w.Topics()...)
	p := w.start(e2e.WorkerOptions{RateLimit: 60})
	w.waitCaughtUp(2 * time.Minute)
	r := w.account(l)
	w.requireNothingLost(r)
	limited := simCodes(w.Sim, gigyasim.MethodNotifyRegistration)["403048"]
	if limited == 0 {
		t.Error("the simulator answered no 403048: the rate limit was not exercised")
	}
	m, err := w.scrape(p)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := m.Value("regnotify_gigya_requests_total", "code", "403048"); v == 0 {
		t.Error("regnotify_gigya_requests_total{code=403048} = 0, want > 0")
	}
	if v, _ := m.Value("regnotify_retries_total"); v == 0 {
		t.Error("regnotify_retries_total = 0, want > 0")
	}
	if dead := len(w.dlq()); dead != 0 {
		t.Errorf("dead letters = %d, want 0", dead)
	}
	if st, err := p.Stop(20 * time.Second); err != nil || st.Code != 0 {
		t.Errorf("SIGTERM: %+v, %v; want exit 0", st, err)
	}
	t.Logf("slow+rate-limited: %d events, %d users; 403048 answers %d: lost %d, order breaks %d, duplicates %d, false dead letters %d",
		n, users, limited, len(r.lost), len(r.orderBreaks), r.duplicates, r.deadLettered)
	w.checkNoSecrets()
}

// TestClockSkew puts the simulator's clock 10 minutes off the worker's
// (either way): requests fail 403002 until the client learns the offset from
// the Date header, then every event succeeds.
func TestClockSkew(t *testing.T) {
	for _, skew := range []time.Duration{10 * time.Minute, -10 * time.Minute} {
		t.Run(skew.String(), func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, e2e.EnvConfig{Sim: gigyasim.Config{Faults: gigyasim.Faults{ClockSkew: skew}}})
			w.produce(w.workload(400, 80, 5)...)
			l := w.readLedger(w.Topics()...)
			p := w.start(e2e.WorkerOptions{})
			w.waitCaughtUp(time.Minute)
			r := w.account(l)
			w.requireNothingLost(r)
			expired := simCodes(w.Sim, gigyasim.MethodNotifyRegistration)["403002"]
			if expired == 0 {
				t.Error("the simulator answered no 403002: the skew was not exercised")
			}
			if dead := len(w.dlq()); dead != 0 {
				t.Errorf("dead letters = %d, want 0", dead)
			}
			if st, err := p.Stop(20 * time.Second); err != nil || st.Code != 0 {
				t.Errorf("SIGTERM: %+v, %v; want exit 0", st, err)
			}
			logs, _ := p.Logs()
			if !strings.Contains(string(logs), "gigya clock offset changed") {
				t.Error("no log line about the clock offset")
			}
			t.Logf("clock skew %v: 400 events; 403002 answers %d: lost %d, duplicates %d, false dead letters %d",
				skew, expired, len(r.lost), r.duplicates, r.deadLettered)
			w.checkNoSecrets()
		})
	}
}

// TestBadInputCorpus produces every record of eventstest.BadRecords, each
// followed by valid events: each bad record ends in the dead-letter topic as
// invalid_event naming its problem, the worker never stops, and the valid
// events after them are notified.
func TestBadInputCorpus(t *testing.T) {
	w := newWorld(t, e2e.EnvConfig{})
	bad := eventstest.BadRecords()
	if len(bad) < 30 {
		t.Fatalf("only %d bad records, want at least 30", len(bad))
	}
	topicOf := map[string]string{"user.registered": w.RegisteredTopic, "account.linked": w.LinkedTopic, eventstest.UntypedTopic: w.UntypedTopic}
	var msgs []kafka.Message
	for i, b := range bad {
		topic, ok := topicOf[b.Topic]
		if !ok {
			t.Fatalf("bad record %q on unexpected topic %q", b.Name, b.Topic)
		}
		msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte("bad-" + strconv.Itoa(i)), Value: b.Value,
			Headers: []kafka.Header{{Key: "test-name", Value: []byte(b.Name)}}})
		u := 1000 + i
		msgs = append(msgs, w.Registered(fmt.Sprintf("%sr-%d", validPrefix, i), uidOf(u)))
		msgs = append(msgs, w.Linked(fmt.Sprintf("%sl-%d", validPrefix, i), uidOf(2000+i), siteOf(2000+i)))
	}
	w.produce(msgs...)
	topics := []string{w.RegisteredTopic, w.LinkedTopic, w.UntypedTopic}
	l := w.readLedger(topics...)
	p := w.start(e2e.WorkerOptions{Topics: topics})
	w.waitCaughtUp(time.Minute, topics...)
	if p.Exited() {
		t.Fatal("the worker stopped")
	}
	byName := map[string]eventstest.BadRecord{}
	for _, b := range bad {
		byName[b.Name] = b
	}
	got := map[string]bool{}
	for _, d := range w.dlq() {
		name, _ := e2e.Header(d, "test-name")
		b, ok := byName[name]
		if !ok {
			continue // a valid event: requireNothingLost reports it
		}
		got[name] = true
		class, _ := e2e.Header(d, deadletter.HeaderErrorClass)
		msg, _ := e2e.Header(d, deadletter.HeaderErrorMessage)
		if class != deadletter.ClassInvalidEvent {
			t.Errorf("%s: class %q, want %q", b.Name, class, deadletter.ClassInvalidEvent)
		}
		if b.WantField != "" && !strings.Contains(msg, `"`+b.WantField+`"`) {
			t.Errorf("%s: message %q does not name field %q", b.Name, msg, b.WantField)
		}
		if !strings.Contains(msg, b.WantText) {
			t.Errorf("%s: message %q does not contain %q", b.Name, msg, b.WantText)
		}
		if string(d.Value) != string(b.Value) {
			t.Errorf("%s: value changed in the dead-letter record", b.Name)
		}
	}
	for _, b := range bad {
		if !got[b.Name] {
			t.Errorf("bad record %q not dead-lettered", b.Name)
		}
	}
	r := w.account(l)
	w.requireNothingLost(r)
	if code, _, err := p.Ready(w.ctx); err != nil || code != http.StatusOK {
		t.Errorf("/readyz = %d (%v) after the corpus, want 200", code, err)
	}
	if st, err := p.Stop(20 * time.Second); err != nil || st.Code != 0 {
		t.Errorf("SIGTERM: %+v, %v; want exit 0", st, err)
	}
	t.Logf("bad corpus: %d bad records (%d dead-lettered as invalid_event) + %d valid: lost %d, false dead letters %d",
		len(bad), len(got), len(l.byID), len(r.lost), r.deadLettered)
	w.checkNoSecrets()
}

// TestGracefulStop sends SIGTERM under load: the worker exits 0 within the
// shutdown timeout, and the committed offsets cover exactly what ended
// (notified, already done or dead-lettered): below them every event has its
// evidence, at and above them no event was touched. A restart then finishes
// the rest without a duplicate.
func TestGracefulStop(t *testing.T) {
	n, users := 4000, 400
	if testing.Short() {
		n, users = 1500, 150
	}
	const shutdown = 5 * time.Second
	w := newWorld(t, e2e.EnvConfig{Sim: gigyasim.Config{Faults: gigyasim.Faults{Latency: 20 * time.Millisecond, Jitter: 15 * time.Millisecond}}})
	valid := w.workload(n, users, 6)
	var msgs []kafka.Message
	const badEvery = 100
	for i, m := range valid {
		msgs = append(msgs, m)
		if i%badEvery == 0 {
			msgs = append(msgs, kafka.Message{Topic: m.Topic, Key: m.Key, Value: []byte(`{"eventId":"bad-` + strconv.Itoa(i) + `"}`)})
		}
	}
	w.produce(msgs...)
	l := w.readLedger(w.Topics()...)
	opts := e2e.WorkerOptions{RateLimit: 500, ShutdownTimeout: shutdown}
	p := w.start(opts)
	// SIGTERM once the work is under way (at 500 calls/s it takes 8 s or
	// more): polled, so that a slow start cannot make it come first.
	if err := poll(w, 60*time.Second, func() bool {
		return simCodes(w.Sim, gigyasim.MethodNotifyRegistration)["0"] >= n/8
	}); err != nil {
		t.Fatalf("the worker did not get going: %v", err)
	}
	st, err := p.Stop(shutdown + 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if st.Code != 0 || st.Elapsed > shutdown+stopMargin {
		t.Errorf("SIGTERM under load: exit code %d after %v, want 0 within %v (+%v to leave the group)", st.Code, st.Elapsed, shutdown, stopMargin)
	}

	// Every record below the committed offset ended; none at or above it
	// was touched.
	dead := map[string]bool{}
	for _, d := range w.dlq() {
		tp, _ := e2e.Header(d, deadletter.HeaderOriginalTopic)
		pt, _ := e2e.Header(d, deadletter.HeaderOriginalPartition)
		of, _ := e2e.Header(d, deadletter.HeaderOriginalOffset)
		pi, _ := strconv.Atoi(pt)
		oi, _ := strconv.ParseInt(of, 10, 64)
		dead[pos(tp, pi, oi)] = true
	}
	below, above := 0, 0
	for _, tp := range w.Topics() {
		com, err := w.Committed(w.ctx, tp)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := w.Kafka.ReadAllContext(w.ctx, tp)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range recs {
			at := pos(tp, m.Partition, m.Offset)
			ev := l.byPos[at]
			touched := dead[at]
			ended := dead[at]
			if ev != nil {
				for _, c := range w.Sim.Calls(ev.uid) {
					if c.Method == gigyasim.MethodNotifyRegistration && c.Context == ev.id {
						touched = true
						ended = ended || c.Code == 0 ||
							(c.Code == 403005 && ev.siteUID != "" && linkedTo(w.Sim, ev.siteUID) == ev.uid)
					}
				}
			}
			if m.Offset < com[m.Partition] {
				below++
				if !ended {
					t.Errorf("%s is below the committed offset %d but did not end (touched %v)", at, com[m.Partition], touched)
				}
			} else {
				above++
				if touched {
					t.Errorf("%s is at or above the committed offset %d but was processed", at, com[m.Partition])
				}
			}
		}
	}
	if below == 0 || above == 0 {
		t.Errorf("SIGTERM came at the wrong time: %d records committed, %d not: want both > 0", below, above)
	}

	p = w.start(opts)
	w.waitCaughtUp(2 * time.Minute)
	if st, err := p.Stop(shutdown + 15*time.Second); err != nil || st.Code != 0 {
		t.Errorf("second SIGTERM: %+v, %v; want exit 0", st, err)
	}
	r := w.account(l)
	w.requireNothingLost(r)
	if r.duplicates != 0 {
		t.Errorf("duplicates = %d after a graceful stop, want 0", r.duplicates)
	}
	t.Logf("graceful stop: %d valid + %d bad events; SIGTERM exit %d after %v (limit %v); committed %d, not %d; after restart: lost %d, duplicates %d, false dead letters %d",
		n, len(msgs)-n, st.Code, st.Elapsed.Round(time.Millisecond), shutdown, below, above, len(r.lost), r.duplicates, r.deadLettered)
	w.checkNoSecrets()
}

// stopMargin is what a SIGTERM may take beyond the shutdown timeout, which
// bounds the drain only: leaving the group and closing the clients come
// after it (about 0.5 s when idle). Generous, for a loaded machine; an
// unbounded drain still runs into Stop's kill at shutdown + 15 s.
const stopMargin = 5 * time.Second

// poll is wait.Until on w's context, every 100 ms.
func poll(w *world, timeout time.Duration, cond func() bool) error {
	return wait.Until(w.ctx, timeout, 100*time.Millisecond, wait.Bool(cond))
}

// TestGracefulStopWhileStuck sends SIGTERM while events cannot end (the
// dead-letter topic refuses writes; then Gigya is down): the worker still
// exits 0 within the shutdown timeout, commits nothing past the stuck
// events, and a later worker finishes everything.
func TestGracefulStopWhileStuck(t *testing.T) {
	const shutdown = 3 * time.Second
	w := newWorld(t, e2e.EnvConfig{})
	msgs := w.workload(200, 20, 9)
	msgs = append(msgs, kafka.Message{Topic: w.RegisteredTopic, Key: []byte("bad"), Value: []byte(`{"eventId":"bad"}`)})
	w.produce(msgs...)
	opts := e2e.WorkerOptions{ShutdownTimeout: shutdown}
	stop := func(p *e2e.Worker, what string) {
		t.Helper()
		st, err := p.Stop(shutdown + 15*time.Second)
		// The timeout bounds the drain; leaving the group and closing the
		// clients come after it (about 0.5 s here), hence stopMargin.
		if err != nil || st.Code != 0 || st.Elapsed > shutdown+stopMargin {
			t.Errorf("SIGTERM %s: exit %d after %v (%v), want 0 within %v", what, st.Code, st.Elapsed, err, shutdown)
		}
		t.Logf("SIGTERM %s: exit %d after %v", what, st.Code, st.Elapsed.Round(time.Millisecond))
	}

	w.FailDLQWrites(true)
	p := w.startNoWait(opts)
	err := poll(w, 30*time.Second, func() bool {
		code, body, err := p.Ready(w.ctx)
		return err == nil && code == http.StatusServiceUnavailable && strings.Contains(body, "dead-letter")
	})
	if err != nil {
		t.Fatalf("/readyz never reported the failing dead-letter topic: %v", err)
	}
	stop(p, "while dead-letter writes fail")
	if done, _ := w.CaughtUp(w.ctx); done {
		t.Error("caught up although the bad event was never dead-lettered")
	}
	w.FailDLQWrites(false)

	if err := w.Sim.SetFaults(gigyasim.Faults{Outage: gigyasim.OutageError}); err != nil {
		t.Fatal(err)
	}
	more := w.workload(200, 20, 10) // same users and ids: give them new ones
	for i := range more {
		more[i].Value = []byte(strings.Replace(string(more[i].Value), validPrefix, validPrefix+"2-", 1))
	}
	w.produce(more...)
	p = w.start(opts)
	if err := poll(w, 30*time.Second, func() bool {
		m, err := w.scrape(p)
		v, _ := m.Value("regnotify_gigya_outage")
		return err == nil && v == 1
	}); err != nil {
		t.Fatalf("no outage detected: %v", err)
	}
	stop(p, "during a Gigya outage")
	if err := w.Sim.SetFaults(gigyasim.Faults{}); err != nil {
		t.Fatal(err)
	}

	l := w.readLedger(w.Topics()...)
	p = w.start(opts)
	w.waitCaughtUp(time.Minute)
	stop(p, "after catching up")
	r := w.account(l)
	w.requireNothingLost(r)
	if got := len(w.dlq()); got != 1 {
		t.Errorf("dead letters = %d, want 1 (the bad event)", got)
	}
	w.checkNoSecrets()
}

package worker_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/regnotify/regnotify/gigya/gigyasim"
	"github.com/regnotify/regnotify/worker"
	"github.com/regnotify/regnotify/worker/kafkatest"
	"github.com/regnotify/regnotify/worker/wait"
)

// rateOf reads a worker's regnotify_rate_limit{site="default"}.
func rateOf(r *running) float64 {
	return metricVec(r.metrics, "regnotify_rate_limit", map[string]string{"site": worker.DefaultSite}).value()
}

// groupShares asks the broker how many partitions each member of the group
// owns (DescribeGroups), as the budget fractions they should run at, sorted.
// ok is false while the group is not stable with want members.
func groupShares(ctx context.Context, kc *kafkatest.Cluster, group string, want, partitions int) ([]float64, bool, error) {
	c := &kafka.Client{Addr: kafka.TCP(kc.Brokers...), Timeout: 5 * time.Second}
	resp, err := c.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return nil, false, err
	}
	if len(resp.Groups) != 1 || resp.Groups[0].GroupState != "Stable" || len(resp.Groups[0].Members) != want {
		return nil, false, nil
	}
	var out []float64
	for _, m := range resp.Groups[0].Members {
		n := 0
		for _, t := range m.MemberAssignments.Topics {
			n += len(t.Partitions)
		}
		out = append(out, float64(n)/float64(partitions))
	}
	sort.Float64s(out)
	return out, true, nil
}

// The budget is the group's: each worker's regnotify_rate_limit is the
// budget times its share of the partitions, as the broker assigned them,
// and the rates add up to the budget, as members join (2 → 3) and leave
// (3 → 1).
func TestRateSharesFollowMembership(t *testing.T) {
	h := newHarness(t)
	const budget = 80.0 // 8 partitions: 10 calls/s each
	parts := len(h.cfg.Topics) * kafkatest.Partitions
	cfg := h.cfg
	cfg.RateLimit = budget
	// A worker that stops leaves the group at once; the others rejoin
	// within a heartbeat.
	var workers []*running
	settle := func(step string) {
		t.Helper()
		var last string
		err := wait.Until(t.Context(), 60*time.Second, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
			want, ok, err := groupShares(ctx, h.kc, cfg.Group, len(workers), parts)
			if err != nil || !ok {
				last = fmt.Sprintf("group not stable with %d members (%v)", len(workers), err)
				return false, nil
			}
			var got []float64
			for _, r := range workers {
				got = append(got, rateOf(r)/budget)
			}
			sort.Float64s(got)
			last = fmt.Sprintf("rates/budget %v, assigned partition shares %v", got, want)
			for i := range want {
				if math.Abs(got[i]-want[i]) > 1e-9 {
					return false, nil
				}
			}
			return true, nil
		})
		if err != nil {
			t.Fatalf("%s: %s: %v", step, last, err)
		}
		sum := 0.0
		for _, r := range workers {
			sum += rateOf(r)
		}
		if sum > budget+1e-9 || sum < budget-1e-9 {
			t.Errorf("%s: rates add up to %v, want the budget %v", step, sum, budget)
		}
		t.Logf("%s: %s", step, last)
	}
	workers = append(workers, h.start(t, cfg), h.start(t, cfg))
	settle("2 members")
	workers = append(workers, h.start(t, cfg))
	settle("3 members")
	workers[0].stop(t)
	workers[1].stop(t)
	workers = workers[2:]
	settle("1 member")
	if got := rateOf(workers[0]); got != budget {
		t.Errorf("the lone member's rate = %v, want the whole budget %v", got, budget)
	}
}

// Gigya's real quota far below the configured budget: 403048 answers slow
// the worker down and the events wait for quota. None is dead-lettered,
// although the retry budget (1 ms) is far shorter than the wait, and the
// refused calls stay near 1.2 per event. A site with no budget at all
// (rate limit 0) has no rate to cut: its events back off instead of
// calling again at once, which looped at full speed (57 calls per event,
// found in review).
func TestRateLimitedNeverDeadLettersNorSpendsRetryBudget(t *testing.T) {
	for _, tc := range []struct {
		name        string
		rateLimit   float64
		retry       [2]time.Duration // initial, max interval; zero = the harness's
		n           int
		maxPerEvent float64
		why         string
	}{
		// The contract's 1.2 holds over a sustained run; this one is a few
		// seconds long and includes the start at ten times the quota.
		{"budget ten times the quota", 400, [2]time.Duration{}, 200, 1.5, "1.2 sustained, plus the start"},
		{"no budget", 0, [2]time.Duration{100 * time.Millisecond, time.Second}, 100, 8, "a backoff, not a loop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if err := h.sim.SetSiteQuota(gigyasim.DefaultSiteName, gigyasim.Quota{Rate: 40, Burst: 5}); err != nil {
				t.Fatal(err)
			}
			cfg := h.cfg
			cfg.RateLimit = tc.rateLimit
			if tc.retry[0] != 0 {
				cfg.RetryInitial, cfg.RetryMaxInterval = tc.retry[0], tc.retry[1]
			}
			cfg.RetryMaxElapsed = time.Millisecond
			var msgs []kafka.Message
			for i := range tc.n {
				msgs = append(msgs, h.registeredEvent(fmt.Sprintf("q-%d", i), uidOf(i)))
			}
			h.kc.Produce(t, msgs...)
			r := h.start(t, cfg)
			h.waitDone(t, cfg, 90*time.Second)

			if got := outcome(r.metrics, h.reg, worker.OutcomeNotified); got != tc.n {
				t.Errorf("notified = %d, want %d", got, tc.n)
			}
			if got := len(h.kc.ReadAll(t, h.dlq)); got != 0 {
				t.Errorf("dead letters = %d, want 0", got)
			}
			st, _ := h.sim.SiteStats(gigyasim.DefaultSiteName)
			if st.RateLimited == 0 {
				t.Fatalf("the simulator refused no call: the test did not throttle (stats %+v)", st)
			}
			perEvent := float64(st.Total) / float64(tc.n)
			t.Logf("%d calls for %d events (%.2f per event), %d answered 403048; rate now %.1f/s", st.Total, tc.n, perEvent, st.RateLimited, rateOf(r))
			if perEvent > tc.maxPerEvent {
				t.Errorf("calls per event = %.2f, want ≤ %v (%s)", perEvent, tc.maxPerEvent, tc.why)
			}
			if tc.rateLimit > 0 {
				if got := rateOf(r); got >= cfg.RateLimit {
					t.Errorf("rate after 403048 = %v, want below the configured %v", got, cfg.RateLimit)
				}
			}
		})
	}
}

// A bulk backlog waits for the same budget as live events: the live events
// go first. Order, not time: once the first live event is called, every
// live event is called before all but a few bulk events (those that already
// held a token), and a bulk backlog remains behind them.
func TestLiveBeforeBulkWhenBothWait(t *testing.T) {
	h := newHarness(t)
	bulk := h.kc.Topic("bulk.account.linked")
	h.kc.CreateTopics(t, bulk)
	cfg := h.cfg
	cfg.Topics = []string{h.reg}
	cfg.BulkTopics = []string{bulk}
	cfg.RateLimit = 8
	const nBulk, nLive = 50, 5
	var msgs []kafka.Message
	for i := range nBulk {
		m := h.linkedEvent(fmt.Sprintf("b-%d", i), uidOf(i), siteOf(i))
		m.Topic = bulk
		msgs = append(msgs, m)
	}
	h.kc.Produce(t, msgs...)
	r := h.start(t, cfg)
	wait.Eventually(t, 30*time.Second, "bulk events being notified", func() bool {
		return outcome(r.metrics, bulk, worker.OutcomeNotified) >= 5
	})
	msgs = msgs[:0]
	for i := range nLive {
		msgs = append(msgs, h.registeredEvent(fmt.Sprintf("l-%d", i), uidOf(1000+i)))
	}
	h.kc.Produce(t, msgs...)
	h.kc.WaitCaughtUp(t, 60*time.Second, cfg.Group, h.reg, bulk)
	if got := outcome(r.metrics, h.reg, worker.OutcomeNotified); got != nLive {
		t.Fatalf("live notified = %d, want %d", got, nLive)
	}

	// Every call, in the order the simulator received them.
	type call struct {
		at   time.Time
		live bool
	}
	var calls []call
	for i := range nBulk {
		for _, c := range h.sim.Calls(uidOf(i)) {
			calls = append(calls, call{c.At, false})
		}
	}
	for i := range nLive {
		for _, c := range h.sim.Calls(uidOf(1000 + i)) {
			calls = append(calls, call{c.At, true})
		}
	}
	slices.SortStableFunc(calls, func(a, b call) int { return a.at.Compare(b.at) })
	first := slices.IndexFunc(calls, func(c call) bool { return c.live })
	last := first
	for i, c := range calls {
		if c.live {
			last = i
		}
	}
	between := 0
	for _, c := range calls[first : last+1] {
		if !c.live {
			between++
		}
	}
	after := len(calls) - 1 - last
	t.Logf("calls: %d bulk before the first live one, %d bulk among the live ones, %d bulk after the last", first, between, after)
	// Live events fetched from different partitions reach the gate a
	// little apart; a bulk call per partition fetch at most slips in.
	if between > 2 {
		t.Errorf("%d bulk calls among the %d live ones, want ≤ 2: live goes first", between, nLive)
	}
	if after < 10 {
		t.Errorf("only %d bulk calls after the live ones: the bulk backlog did not wait behind them (the test did not set up its case)", after)
	}
}

// Bulk events hold at most BulkConcurrency slots: with a backlog of bulk
// events only, the simulator never sees more than that many calls at once,
// however large Concurrency is.
func TestBulkNeverExceedsItsSlots(t *testing.T) {
	h := newHarness(t)
	if err := h.sim.SetFaults(gigyasim.Faults{Latency: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	bulk := h.kc.Topic("bulk.account.linked")
	h.kc.CreateTopics(t, bulk)
	cfg := h.cfg
	cfg.Topics = []string{h.reg}
	cfg.BulkTopics = []string{bulk}
	cfg.Concurrency = 16
	cfg.BulkConcurrency = 3
	const n = 120
	var msgs []kafka.Message
	for i := range n {
		m := h.linkedEvent(fmt.Sprintf("b-%d", i), uidOf(i), siteOf(i))
		m.Topic = bulk
		msgs = append(msgs, m)
	}
	h.kc.Produce(t, msgs...)
	r := h.start(t, cfg)
	h.kc.WaitCaughtUp(t, 60*time.Second, cfg.Group, bulk)
	if got := outcome(r.metrics, bulk, worker.OutcomeNotified); got != n {
		t.Errorf("bulk notified = %d, want %d", got, n)
	}
	peak := h.sim.Stats().PeakInFlight
	t.Logf("peak calls in flight at the simulator: %d (bulk slots %d of %d)", peak, cfg.BulkConcurrency, cfg.Concurrency)
	if peak > cfg.BulkConcurrency {
		t.Errorf("peak in flight = %d, want ≤ %d bulk slots", peak, cfg.BulkConcurrency)
	}
	if peak < 2 {
		t.Errorf("peak in flight = %d: bulk events did not run concurrently at all (the test did not set up its case)", peak)
	}
}

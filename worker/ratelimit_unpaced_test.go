package worker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/regnotify/regnotify/gigya/gigyasim"
	"github.com/regnotify/regnotify/worker"
)

// A site with no budget (rate limit 0, no quota) has no rate to cut on
// 403048: its events back off instead of calling again at once, which
// looped at full speed (57 calls per event, found in review), and none is
// dead-lettered for it.
func TestRateLimitedWithoutABudgetBacksOff(t *testing.T) {
	h := newHarness(t)
	if err := h.sim.SetSiteQuota(gigyasim.DefaultSiteName, gigyasim.Quota{Rate: 40, Burst: 5}); err != nil {
		t.Fatal(err)
	}
	cfg := h.cfg
	cfg.RateLimit = 0
	cfg.RetryInitial, cfg.RetryMaxInterval = 100*time.Millisecond, time.Second
	cfg.RetryMaxElapsed = time.Millisecond // 403048 must not spend it
	const n = 100
	var msgs []kafka.Message
	for i := range n {
		msgs = append(msgs, h.registeredEvent(fmt.Sprintf("q-%d", i), uidOf(i)))
	}
	h.kc.Produce(t, msgs...)
	r := h.start(t, cfg)
	h.waitDone(t, cfg, 90*time.Second)
	if got := outcome(r.metrics, h.reg, worker.OutcomeNotified); got != n {
		t.Errorf("notified = %d, want %d", got, n)
	}
	st, _ := h.sim.SiteStats(gigyasim.DefaultSiteName)
	perEvent := float64(st.Total) / n
	t.Logf("%d calls for %d events (%.2f per event), %d answered 403048", st.Total, n, perEvent, st.RateLimited)
	if perEvent > 8 {
		t.Errorf("calls per event = %.2f, want at most 8 (a backoff, not a loop)", perEvent)
	}
}

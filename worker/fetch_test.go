package worker_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regnotify/regnotify/worker"
	"github.com/regnotify/regnotify/worker/kafkaread"
	"github.com/regnotify/regnotify/worker/wait"
)

// A partition whose reader cannot be set up (its offset not set) is not
// silently skipped: while it fails the worker reports not ready, it is
// retried, and once it opens its events are consumed and the worker is ready.
func TestReaderSetupFailureIsVisibleAndRetried(t *testing.T) {
	h := newHarness(t)
	h.kc.Produce(t, h.registeredEvent("r-1", uidOf(1)))
	var failed atomic.Int64
	var healed atomic.Bool
	r := h.startWith(t, h.cfg, func(w *worker.Worker) {
		worker.SetOpenReader(w, func(cfg kafkaread.Config, offset int64) (*kafkaread.Reader, error) {
			if cfg.Topic == h.reg && !healed.Load() {
				failed.Add(1)
				return nil, errors.New("set offset: injected failure")
			}
			return kafkaread.New(cfg, offset)
		})
	})
	wait.Eventually(t, 30*time.Second, "a partition reader failed twice (retried)", func() bool { return failed.Load() >= 2 })
	if r.w.Ready() {
		t.Error("Ready = true while a partition reader cannot start; want false")
	}
	rec := httptest.NewRecorder()
	r.w.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable || !contains(rec.Body.String(), "partition reader") {
		t.Errorf("/readyz = %d %q; want 503 naming the partition reader", rec.Code, rec.Body.String())
	}
	if got := outcome(r.metrics, h.reg, worker.OutcomeNotified); got != 0 {
		t.Fatalf("notified = %d before the reader opened; want 0", got)
	}
	healed.Store(true)
	h.waitDone(t, h.cfg, 30*time.Second)
	if got := outcome(r.metrics, h.reg, worker.OutcomeNotified); got != 1 {
		t.Errorf("notified = %d after the reader opened; want 1", got)
	}
	wait.Eventually(t, 10*time.Second, "ready once every reader opened", r.w.Ready)
}

package quota_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regnotify/regnotify/worker/quota"
)

// The tests below run in a synctest bubble: time is a fake clock that
// moves only when every goroutine of the test is blocked, so durations are
// exact and nothing really sleeps.

func newGov(t *testing.T, cfg quota.Config) *quota.Governor {
	t.Helper()
	g, err := quota.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func acquire(t *testing.T, g *quota.Governor, lane quota.Lane) quota.Permit {
	t.Helper()
	p, err := g.Acquire(t.Context(), lane)
	if err != nil {
		t.Fatalf("Acquire(%s): %v", lane, err)
	}
	return p
}

func near(got, want float64) bool { return math.Abs(got-want) < 1e-6*max(1, math.Abs(want)) }

func TestNewRejectsBadBudgets(t *testing.T) {
	for _, b := range []float64{-1, math.NaN(), math.Inf(1)} {
		if _, err := quota.New(quota.Config{Budget: b}); err == nil {
			t.Errorf("New(budget %v): no error, want one", b)
		}
	}
}

// TestAIMD: a 403048 cuts the rate at once; 403048s on calls sent before
// the cut do not cut again, but lower the rate to what the quota took of
// those calls, never below a second cut; the rate climbs back by 5 % of the
// share per second up to the share, and never falls below the floor.
func TestAIMD(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGov(t, quota.Config{Budget: 100})
		if got := g.Rate(); !near(got, 100) {
			t.Fatalf("initial rate %v, want the share 100", got)
		}
		var inFlight []quota.Permit
		for range 20 {
			inFlight = append(inFlight, acquire(t, g, quota.Live))
		}
		if !g.RateLimited(inFlight[0]) {
			t.Error("first 403048: no cut, want one")
		}
		if got := g.Rate(); !near(got, 70) {
			t.Errorf("rate after a cut %v, want 100 × 0.7 = 70", got)
		}
		for _, p := range inFlight[1:3] {
			if g.RateLimited(p) {
				t.Error("403048 on a call sent before the cut: cut again, want no second cut")
			}
		}
		if got := g.Rate(); !near(got, 70) {
			t.Errorf("rate after 3 of 20 in-flight calls refused %v, want still 70 (they say 85)", got)
		}
		time.Sleep(time.Second) // 75/s now, and a token in the bucket
		if !g.RateLimited(acquire(t, g, quota.Live)) {
			t.Error("403048 on a call sent after the cut: no cut, want one")
		}
		if got := g.Rate(); !near(got, 52.5) {
			t.Errorf("rate after the second cut %v, want (70 + 5) × 0.7 = 52.5", got)
		}
		time.Sleep(2 * time.Second)
		if got := g.Rate(); !near(got, 62.5) {
			t.Errorf("rate 2 s later %v, want 52.5 + 2 × 5 = 62.5", got)
		}
		time.Sleep(time.Minute)
		if got := g.Rate(); !near(got, 100) {
			t.Errorf("rate a minute later %v, want back at the share 100", got)
		}
		if s := g.Stats(); s.RateLimited != 4 || s.Cuts != 2 {
			t.Errorf("stats %+v, want 4 rate limited, 2 cuts", s)
		}
	})
}

// TestAIMDBurstOfRefusals: every in-flight call refused lowers the rate to
// a second cut at most, and cuts never go below the floor.
func TestAIMDBurstOfRefusals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGov(t, quota.Config{Budget: 100})
		var inFlight []quota.Permit
		for range 10 {
			inFlight = append(inFlight, acquire(t, g, quota.Live))
		}
		for _, p := range inFlight {
			g.RateLimited(p)
		}
		if got := g.Rate(); !near(got, 49) {
			t.Errorf("rate after all 10 in-flight calls refused %v, want 100 × 0.7² = 49", got)
		}
		// An (almost) non-increasing governor shows the floor.
		f := newGov(t, quota.Config{Budget: 100, Increase: 1e-12})
		for range 50 {
			f.RateLimited(acquire(t, f, quota.Live))
		}
		if got := f.Rate(); !near(got, 1) {
			t.Errorf("rate after 50 cuts %v, want the floor 1 (1 %% of the share)", got)
		}
	})
}

// TestAcquirePaces: at 10 calls/s, 21 calls take 2 s (the first is the
// burst).
func TestAcquirePaces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGov(t, quota.Config{Budget: 10})
		start := time.Now()
		for range 21 {
			acquire(t, g, quota.Live)
		}
		if got := time.Since(start); got < 2*time.Second || got > 2*time.Second+time.Millisecond {
			t.Errorf("21 calls at 10/s took %v, want 2s", got)
		}
	})
}

func TestUnlimitedNeverWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGov(t, quota.Config{})
		start := time.Now()
		for range 1000 {
			if g.RateLimited(acquire(t, g, quota.Bulk)) {
				t.Fatal("unlimited governor cut its rate")
			}
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("1000 unlimited calls took %v, want no wait", d)
		}
		if got := g.Rate(); got != 0 {
			t.Errorf("Rate of an unlimited governor %v, want 0 (none)", got)
		}
	})
}

// TestSetShareKeepsTheCut: a worker cut to 70 % of its share runs at 70 %
// of its new share after a rebalance, and a share of 0 stops it.
func TestSetShareKeepsTheCut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGov(t, quota.Config{Budget: 300})
		g.SetShare(1.0 / 3)
		if got := g.Rate(); !near(got, 100) {
			t.Fatalf("rate at share 1/3 %v, want 100", got)
		}
		g.RateLimited(acquire(t, g, quota.Live))
		g.SetShare(0.5)
		if got, share := g.Rate(), g.Share(); !near(got, 105) || !near(share, 150) {
			t.Errorf("after SetShare(0.5): rate %v share %v, want 105 and 150", got, share)
		}
		g.SetShare(0)
		if got := g.Rate(); got != 0 {
			t.Errorf("rate at share 0: %v, want 0", got)
		}
		// A caller waiting at share 0 is served once a generation gives
		// this worker partitions again.
		start := time.Now()
		var wg sync.WaitGroup
		wg.Go(func() { acquire(t, g, quota.Live) })
		time.Sleep(10 * time.Second)
		synctest.Wait()
		g.SetShare(1)
		wg.Wait()
		if d := time.Since(start); d < 10*time.Second || d > 10*time.Second+10*time.Millisecond {
			t.Errorf("a caller waiting at share 0 was served after %v, want just after the share came back at 10s", d)
		}
	})
}

// TestLiveBeforeBulk: with bulk callers already waiting, live callers that
// come later are served first; within a lane, in arrival order.
func TestLiveBeforeBulk(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGov(t, quota.Config{Budget: 10})
		acquire(t, g, quota.Live) // empty the bucket
		var (
			mu    sync.Mutex
			order []string
			wg    sync.WaitGroup
		)
		start := func(name string, lane quota.Lane) {
			wg.Go(func() {
				acquire(t, g, lane)
				mu.Lock()
				order = append(order, name)
				mu.Unlock()
			})
			synctest.Wait() // it is queued before the next one starts
		}
		for _, n := range []string{"bulk1", "bulk2", "bulk3"} {
			start(n, quota.Bulk)
		}
		for _, n := range []string{"live1", "live2"} {
			start(n, quota.Live)
		}
		time.Sleep(150 * time.Millisecond) // live1 is served
		start("live3", quota.Live)
		wg.Wait()
		want := []string{"live1", "live2", "live3", "bulk1", "bulk2", "bulk3"}
		if !slices.Equal(order, want) {
			t.Errorf("served in order %v, want %v", order, want)
		}
	})
}

// TestAcquireCancel: a caller whose context ends while it waits gets the
// context's error and takes no token from those behind it.
func TestAcquireCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGov(t, quota.Config{Budget: 1})
		acquire(t, g, quota.Live) // empty the bucket
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		var wg sync.WaitGroup
		var bulkAt time.Duration
		start := time.Now()
		wg.Go(func() {
			acquire(t, g, quota.Bulk)
			bulkAt = time.Since(start)
		})
		synctest.Wait()
		if _, err := g.Acquire(ctx, quota.Live); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Acquire with an expiring context: %v, want DeadlineExceeded", err)
		}
		wg.Wait()
		if bulkAt < time.Second || bulkAt > time.Second+time.Microsecond {
			t.Errorf("the bulk caller behind the cancelled live one was served after %v, want 1s (the next token)", bulkAt)
		}
		done, stop := context.WithCancel(t.Context())
		stop()
		if _, err := g.Acquire(done, quota.Live); !errors.Is(err, context.Canceled) {
			t.Errorf("Acquire with a cancelled context: %v, want Canceled", err)
		}
	})
}

// TestRateLimitedReWait: an event answered 403048 waits for a token of the
// cut rate before its next call.
func TestRateLimitedReWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGov(t, quota.Config{Budget: 10})
		p := acquire(t, g, quota.Live)
		start := time.Now()
		g.RateLimited(p)
		acquire(t, g, quota.Live)
		// The bucket is emptied at the cut; at 7/s (rising by 0.5/s²) the
		// next token comes after about 1/7 s.
		if d := time.Since(start); d < 130*time.Millisecond || d > 145*time.Millisecond {
			t.Errorf("re-wait after 403048 took %v, want about 1/7 s", d)
		}
	})
}

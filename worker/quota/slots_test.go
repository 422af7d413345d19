package quota_test

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/regnotify/regnotify/worker/quota"
)

func newSlots(t *testing.T, n, bulk int) *quota.Slots {
	t.Helper()
	s, err := quota.NewSlots(n, bulk)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewSlotsLimits(t *testing.T) {
	tests := []struct{ n, bulk, wantBulk int }{
		{64, 32, 32}, {8, 8, 7}, {8, 100, 7}, {1, 1, 1}, {4, 0, 0}, {4, -3, 0},
	}
	for _, tt := range tests {
		s := newSlots(t, tt.n, tt.bulk)
		if n, b := s.Limits(); n != tt.n || b != tt.wantBulk {
			t.Errorf("NewSlots(%d, %d).Limits() = %d, %d, want %d, %d", tt.n, tt.bulk, n, b, tt.n, tt.wantBulk)
		}
	}
	if _, err := quota.NewSlots(0, 0); err == nil {
		t.Error("NewSlots(0, 0): no error, want one")
	}
}

// TestSlotsBulkNeverExceedsItsLimit: many goroutines of both lanes; at no
// moment do bulk events hold more than their slots, nor all events more than
// the total (run with -race).
func TestSlotsBulkNeverExceedsItsLimit(t *testing.T) {
	const n, bulk, workers, rounds = 8, 3, 40, 200
	s := newSlots(t, n, bulk)
	var inBulk, inAll, maxBulk, maxAll atomic.Int64
	raise := func(m *atomic.Int64, v int64) {
		for cur := m.Load(); v > cur && !m.CompareAndSwap(cur, v); cur = m.Load() {
		}
	}
	var wg sync.WaitGroup
	for i := range workers {
		lane := quota.Live
		if i%2 == 0 {
			lane = quota.Bulk
		}
		wg.Go(func() {
			for range rounds {
				release, err := s.Acquire(t.Context(), lane)
				if err != nil {
					t.Error(err)
					return
				}
				if lane == quota.Bulk {
					raise(&maxBulk, inBulk.Add(1))
				}
				raise(&maxAll, inAll.Add(1))
				if live, b := s.InUse(); b > bulk || live+b > n {
					t.Errorf("in use: live %d bulk %d, want bulk ≤ %d and all ≤ %d", live, b, bulk, n)
				}
				runtime.Gosched()
				inAll.Add(-1)
				if lane == quota.Bulk {
					inBulk.Add(-1)
				}
				release()
				release() // a second call is harmless
			}
		})
	}
	wg.Wait()
	if maxBulk.Load() > bulk || maxAll.Load() > n {
		t.Errorf("at most %d bulk and %d in all at once, want ≤ %d and ≤ %d", maxBulk.Load(), maxAll.Load(), bulk, n)
	}
	if live, b := s.InUse(); live != 0 || b != 0 {
		t.Errorf("in use at the end: live %d bulk %d, want 0, 0", live, b)
	}
}

// TestSlotsLiveNotBlockedByBulk: with bulk holding its slots and more bulk
// waiting, live events still get the remaining slots at once.
func TestSlotsLiveNotBlockedByBulk(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSlots(t, 4, 2)
		for range 2 {
			if _, err := s.Acquire(t.Context(), quota.Bulk); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		wg.Go(func() { _, _ = s.Acquire(t.Context(), quota.Bulk) }) // waits for ever (cancelled at the end)
		synctest.Wait()
		ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
		defer cancel()
		for i := range 2 {
			if _, err := s.Acquire(ctx, quota.Live); err != nil {
				t.Errorf("live event %d with bulk at its limit: %v, want a slot at once", i, err)
			}
		}
		if live, bulk := s.InUse(); live != 2 || bulk != 2 {
			t.Errorf("in use: live %d bulk %d, want 2 and 2", live, bulk)
		}
		t.Cleanup(wg.Wait) // t.Context ends before Cleanup runs, releasing the bulk waiter
	})
}

// TestSlotsLiveFirst: when both lanes wait for a slot, a freed slot goes to
// live, then bulk.
func TestSlotsLiveFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSlots(t, 2, 1)
		r1, _ := s.Acquire(t.Context(), quota.Live)
		r2, _ := s.Acquire(t.Context(), quota.Live)
		var (
			mu    sync.Mutex
			order []string
			wg    sync.WaitGroup
		)
		start := func(name string, lane quota.Lane) {
			wg.Go(func() {
				release, err := s.Acquire(t.Context(), lane)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				order = append(order, name)
				mu.Unlock()
				release()
			})
			synctest.Wait()
		}
		start("bulk", quota.Bulk)
		start("live", quota.Live)
		r1()
		synctest.Wait()
		r2()
		wg.Wait()
		if want := []string{"live", "bulk"}; !slices.Equal(order, want) {
			t.Errorf("slots went to %v, want %v", order, want)
		}
	})
}

func TestSlotsCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSlots(t, 1, 1)
		release, _ := s.Acquire(t.Context(), quota.Live)
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if _, err := s.Acquire(ctx, quota.Live); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Acquire with an expiring context: %v, want DeadlineExceeded", err)
		}
		release()
		if live, bulk := s.InUse(); live != 0 || bulk != 0 {
			t.Errorf("in use after the cancelled wait: live %d bulk %d, want 0, 0", live, bulk)
		}
		if _, err := s.Acquire(t.Context(), quota.Bulk); err != nil {
			t.Errorf("Acquire after the cancelled wait: %v", err)
		}
	})
}

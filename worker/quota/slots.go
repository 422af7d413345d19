package quota

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// Slots is the worker's concurrency gate with two lanes: at most n events in
// flight, of which at most bulk are bulk events. Live events may use every
// slot; bulk events only up to their limit, so at least n−bulk slots are
// always live's and a bulk backlog never holds a live event back for more
// than the time a live slot takes to free. When both lanes wait for a freed
// slot, live goes first. It is safe for concurrent use.
type Slots struct {
	mu         sync.Mutex
	n, bulk    int
	live, busy int // in use by live events; by bulk events
	queue      [2][]*slotWaiter
}

type slotWaiter struct {
	ready   chan struct{}
	granted bool
}

// NewSlots returns a gate of n slots (n ≥ 1) of which bulk events may hold
// at most bulk. A bulk limit of n or more is lowered to n−1 (for n > 1), so
// that a live event always has a slot bulk cannot take; below 0 it is 0.
func NewSlots(n, bulk int) (*Slots, error) {
	if n < 1 {
		return nil, fmt.Errorf("quota: %d slots: want at least 1", n)
	}
	if bulk >= n {
		bulk = max(n-1, 1)
	}
	return &Slots{n: n, bulk: max(bulk, 0)}, nil
}

// Limits returns the total number of slots and the bulk limit in effect.
func (s *Slots) Limits() (n, bulk int) { return s.n, s.bulk }

// InUse returns the slots held by live and by bulk events.
func (s *Slots) InUse() (live, bulk int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live, s.busy
}

// Acquire waits for a slot for an event of lane and returns the function
// that gives it back (safe to call more than once). It returns an error only
// when ctx ends first.
func (s *Slots) Acquire(ctx context.Context, lane Lane) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("quota: wait for a %s slot: %w", lane, err)
	}
	s.mu.Lock()
	if s.free(lane) && len(s.queue[Live]) == 0 && (lane == Live || len(s.queue[Bulk]) == 0) {
		s.hold(lane, 1)
		s.mu.Unlock()
		return s.releaser(lane), nil
	}
	w := &slotWaiter{ready: make(chan struct{})}
	s.queue[lane] = append(s.queue[lane], w)
	s.mu.Unlock()

	select {
	case <-w.ready:
		return s.releaser(lane), nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.granted {
		s.hold(lane, -1)
	} else {
		s.queue[lane] = slices.DeleteFunc(s.queue[lane], func(x *slotWaiter) bool { return x == w })
	}
	s.dispatch()
	return nil, fmt.Errorf("quota: wait for a %s slot: %w", lane, ctx.Err())
}

// free reports whether an event of lane may take a slot now. mu held.
func (s *Slots) free(lane Lane) bool {
	if s.live+s.busy >= s.n {
		return false
	}
	return lane == Live || s.busy < s.bulk
}

func (s *Slots) hold(lane Lane, d int) {
	if lane == Bulk {
		s.busy += d
	} else {
		s.live += d
	}
}

func (s *Slots) releaser(lane Lane) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.hold(lane, -1)
			s.dispatch()
		})
	}
}

// dispatch hands free slots to the waiters, live first. mu held.
func (s *Slots) dispatch() {
	for _, lane := range []Lane{Live, Bulk} {
		for len(s.queue[lane]) > 0 && s.free(lane) {
			w := s.queue[lane][0]
			s.queue[lane][0] = nil
			s.queue[lane] = s.queue[lane][1:]
			s.hold(lane, 1)
			w.granted = true
			close(w.ready)
		}
	}
}

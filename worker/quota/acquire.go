package quota

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// eps absorbs float rounding in the token count, so that a timer set for
// the instant of the next token finds it there.
const eps = 1e-9

// Acquire waits for a token of the budget and returns the permit for one
// call. Live callers are served before bulk callers whenever both wait;
// within a lane, first come first served. It returns an error only when
// ctx ends first (the token, if one was granted meanwhile, is given back).
// An unlimited governor never waits.
func (g *Governor) Acquire(ctx context.Context, lane Lane) (Permit, error) {
	if g.Unlimited() {
		return Permit{}, nil
	}
	if err := ctx.Err(); err != nil {
		return Permit{}, fmt.Errorf("quota: wait for a %s token: %w", lane, err)
	}
	g.mu.Lock()
	now := time.Now()
	g.advance(now)
	if p, ok := g.take(lane); ok {
		g.mu.Unlock()
		return p, nil
	}
	w := &waiter{lane: lane, ready: make(chan struct{})}
	g.queue[lane] = append(g.queue[lane], w)
	g.arm(now)
	g.mu.Unlock()

	select {
	case <-w.ready:
		return Permit{epoch: w.epoch}, nil
	case <-ctx.Done():
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if w.granted {
		g.tokens = min(g.cfg.Burst, g.tokens+1) // give it back
	} else {
		g.queue[lane] = slices.DeleteFunc(g.queue[lane], func(x *waiter) bool { return x == w })
	}
	g.dispatch(time.Now())
	return Permit{}, fmt.Errorf("quota: wait for a %s token: %w", lane, ctx.Err())
}

// take takes a token for lane if one is there and nobody with the same or
// a higher priority waits. Called with mu held, after advance.
func (g *Governor) take(lane Lane) (Permit, bool) {
	if len(g.queue[Live]) > 0 || (lane == Bulk && len(g.queue[Bulk]) > 0) {
		return Permit{}, false
	}
	if g.tokens < 1-eps {
		return Permit{}, false
	}
	g.tokens = max(g.tokens-1, 0)
	g.issued++
	return Permit{epoch: g.epoch}, true
}

// dispatch grants the tokens there are to the waiters, live first, and
// sets the timer for the next one. Called with mu held.
func (g *Governor) dispatch(now time.Time) {
	g.advance(now)
	for g.tokens >= 1-eps {
		lane := Live
		if len(g.queue[Live]) == 0 {
			lane = Bulk
		}
		if len(g.queue[lane]) == 0 {
			break
		}
		w := g.queue[lane][0]
		g.queue[lane][0] = nil
		g.queue[lane] = g.queue[lane][1:]
		g.tokens = max(g.tokens-1, 0)
		g.issued++
		w.granted, w.epoch = true, g.epoch
		close(w.ready)
	}
	g.arm(now)
}

// arm sets the timer for the instant the next token is there, if anyone
// waits and the rate is not zero. Called with mu held, after advance.
func (g *Governor) arm(now time.Time) {
	if len(g.queue[Live])+len(g.queue[Bulk]) == 0 || g.rate <= 0 {
		if g.timer != nil {
			g.timer.Stop()
			g.timer = nil
		}
		return
	}
	d := time.Duration((1-g.tokens)/g.rate*float64(time.Second)) + time.Nanosecond
	d = max(d, time.Nanosecond)
	at := now.Add(d)
	if g.timer != nil && !g.timerAt.After(at) {
		return // an earlier timer will see to it
	}
	if g.timer != nil {
		g.timer.Stop()
	}
	g.timerAt = at
	g.timer = time.AfterFunc(d, g.fire)
}

func (g *Governor) fire() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.timer = nil
	g.dispatch(time.Now())
}

// RateLimited reports that the call made with p was answered 403048. The
// first such answer on a call sent since the last cut cuts the rate at once
// (×Decrease, not below the floor) and empties the bucket; answers on calls
// sent before that cut are the same congestion and only counted. It reports
// whether it cut. The event then calls Acquire again: that wait is the
// quota's, not the event's retry budget's.
func (g *Governor) RateLimited(p Permit) bool {
	if g.Unlimited() {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.rateLimited(time.Now(), p)
}

// stale handles a 403048 on a call of the epoch before the last cut. Those
// calls were sent at prevRate and, of prevIssued, prevRefused were refused
// so far: the quota took at most prevRate × (1 − refused/issued). Far over
// the quota (a configured budget ten times the real one) that bound is well
// below one cut, and the rate goes down to it at once instead of after
// several round trips of cuts; just over the quota it is above the cut and
// changes nothing. So that a burst of refusals cannot collapse the rate, it
// lowers it to no less than a second cut (prevRate × Decrease²) per epoch.
func (g *Governor) stale() {
	g.prevRefused++
	if g.prevIssued == 0 {
		return
	}
	accepted := 1 - float64(min(g.prevRefused, g.prevIssued))/float64(g.prevIssued)
	d := g.cfg.Decrease
	g.rate = min(g.rate, max(g.prevRate*accepted, g.prevRate*d*d, g.floor()))
}

func (g *Governor) rateLimited(now time.Time, p Permit) bool {
	g.advance(now)
	g.limited++
	if p.epoch+1 == g.epoch {
		g.stale()
	}
	if p.epoch != g.epoch {
		return false
	}
	g.epoch++
	g.cuts++
	g.prevIssued, g.prevRefused, g.prevRate, g.issued = g.issued, 1, g.rate, 0
	g.rate = max(g.rate*g.cfg.Decrease, g.floor())
	g.tokens = 0
	g.arm(now)
	return true
}

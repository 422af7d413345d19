package quota

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// Lane is the priority class of an event: live registrations or bulk
// linking.
type Lane uint8

const (
	// Live is the default lane: registrations as they happen. It goes
	// first.
	Live Lane = iota
	// Bulk is the lane of --bulk-topics: it gets what live leaves.
	Bulk
)

// String returns "live" or "bulk".
func (l Lane) String() string {
	if l == Bulk {
		return "bulk"
	}
	return "live"
}

// The AIMD defaults, chosen by TestUnknownQuotaSimulation (sim_test.go):
// with the real quota a tenth of the configured one they keep refused calls
// under 1.2 per event while achieving over 0.85 of the quota.
const (
	// DefaultDecrease multiplies the rate at a 403048.
	DefaultDecrease = 0.7
	// DefaultIncrease is the additive increase, in shares per second.
	DefaultIncrease = 0.05
	// DefaultFloor is the lowest rate, as a fraction of the share.
	DefaultFloor = 0.01
	// DefaultBurst is the token bucket's burst, in calls.
	DefaultBurst = 1
)

// Config configures a Governor. Zero values take the defaults named on each
// field.
type Config struct {
	// Budget is the group-wide budget in calls per second; 0 means no
	// limit (Acquire never waits).
	Budget float64
	// Burst is the most calls sent back to back; default DefaultBurst.
	Burst float64
	// Decrease is the multiplicative decrease at a 403048, in (0, 1);
	// default DefaultDecrease.
	Decrease float64
	// Increase is the additive increase in shares per second; default
	// DefaultIncrease (back to the share 1/0.05 = 20 s after a cut to 0).
	Increase float64
	// Floor is the lowest rate as a fraction of the share, in (0, 1);
	// default DefaultFloor.
	Floor float64
}

func (c *Config) setDefaults() {
	if c.Burst <= 0 {
		c.Burst = DefaultBurst
	}
	if c.Decrease <= 0 || c.Decrease >= 1 {
		c.Decrease = DefaultDecrease
	}
	if c.Increase <= 0 {
		c.Increase = DefaultIncrease
	}
	if c.Floor <= 0 || c.Floor >= 1 {
		c.Floor = DefaultFloor
	}
}

// Permit is the right to make one call, from Acquire. Hand it to
// RateLimited if the call is answered 403048.
type Permit struct {
	epoch uint64
}

// Governor paces the calls of one budget in this worker: a token bucket at
// an AIMD rate that is at most this worker's share of the budget. It is safe
// for concurrent use. Create it with New.
type Governor struct {
	cfg Config

	mu       sync.Mutex
	fraction float64
	share    float64 // calls/s: Budget × fraction
	rate     float64 // current calls/s, ≤ share
	tokens   float64
	last     time.Time // tokens and rate are as of last
	epoch    uint64    // incremented at every cut
	limited  uint64    // 403048 answers reported
	cuts     uint64
	// Calls sent in this epoch; calls sent in the previous one, how many
	// of them were refused so far, and the rate they were sent at.
	issued, prevIssued, prevRefused uint64
	prevRate                        float64
	queue                           [2][]*waiter // by Lane
	timer                           *time.Timer
	timerAt                         time.Time
}

type waiter struct {
	lane    Lane
	ready   chan struct{}
	granted bool
	epoch   uint64
}

// New returns a governor for cfg. It starts with the whole budget as its
// share (fraction 1), as a lone member would have; the worker calls SetShare
// at every generation.
func New(cfg Config) (*Governor, error) {
	if cfg.Budget < 0 || math.IsNaN(cfg.Budget) || math.IsInf(cfg.Budget, 0) {
		return nil, fmt.Errorf("quota: budget %v: want 0 (none) or more calls/s", cfg.Budget)
	}
	cfg.setDefaults()
	g := &Governor{cfg: cfg}
	g.setShare(time.Now(), 1)
	g.tokens = cfg.Burst
	return g, nil
}

// Unlimited reports whether the governor has no budget (Budget 0).
func (g *Governor) Unlimited() bool { return g.cfg.Budget == 0 }

// SetShare sets this worker's fraction (0 to 1) of the budget, from Share,
// at every consumer-group generation. The current rate keeps its ratio to
// the share: a worker that was cut to half its old share runs at half its
// new one.
func (g *Governor) SetShare(fraction float64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	g.setShare(now, fraction)
	g.dispatch(now)
}

func (g *Governor) setShare(now time.Time, fraction float64) {
	if math.IsNaN(fraction) {
		fraction = 0
	}
	fraction = min(max(fraction, 0), 1)
	g.advance(now)
	share := g.cfg.Budget * fraction
	switch {
	case g.share > 0:
		g.rate = g.rate * share / g.share
	default:
		g.rate = share
	}
	g.fraction, g.share = fraction, share
	g.rate = min(max(g.rate, g.floor()), share)
}

// Share returns this worker's share of the budget in calls per second.
func (g *Governor) Share() float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.share
}

// Rate returns the current rate in calls per second (≤ Share): the value
// of regnotify_rate_limit{site}. It is 0 for an unlimited governor.
func (g *Governor) Rate() float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.advance(time.Now())
	return g.rate
}

// Stats are counters for tests and logs.
type Stats struct {
	RateLimited uint64 // 403048 answers reported
	Cuts        uint64 // multiplicative decreases made
}

// Stats returns the counters so far.
func (g *Governor) Stats() Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return Stats{RateLimited: g.limited, Cuts: g.cuts}
}

func (g *Governor) floor() float64 { return g.share * g.cfg.Floor }

// advance brings the bucket and the additive increase up to now.
func (g *Governor) advance(now time.Time) {
	dt := now.Sub(g.last).Seconds()
	if g.last.IsZero() || dt < 0 {
		dt = 0
	}
	g.last = now
	if dt == 0 {
		return
	}
	next := min(g.share, g.rate+g.cfg.Increase*g.share*dt)
	g.tokens = min(g.cfg.Burst, g.tokens+(g.rate+next)/2*dt)
	g.rate = next
}

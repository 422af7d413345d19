package worker

import (
	"context"
	"sync"
	"time"
)

// outage decides when Gigya as a whole is failing and pauses the worker until
// it answers again.
//
// It opens after threshold consecutive outage-kind failures (transport
// errors and server errors, not per-user or rate-limit answers) coming from at
// least minUsers different users, so that one user's bad luck never pauses
// everyone. Any success closes the streak. While open, new events are not
// taken and retrying events wait at the gate instead of calling Gigya; a
// single prober checks Gigya until it answers.
//
// It is also the clock of every event's backoff (Now): a clock that stands
// still while the outage lasts, so outage time does not count against any
// event's retry budget.
type outage struct {
	threshold int
	minUsers  int
	now       func() time.Time

	mu          sync.Mutex
	consecutive int
	users       map[string]struct{}
	open        bool
	trial       bool // closed by a probe, no call succeeded since: the next failure reopens
	openedAt    time.Time
	paused      time.Duration // total time spent open, up to the last close
	closed      chan struct{} // closed while the gate is closed (Gigya healthy)
	opened      chan struct{} // signalled when the gate opens, for the prober
	onChange    func(open bool)
}

func newOutage(threshold, minUsers int, now func() time.Time, onChange func(open bool)) *outage {
	c := make(chan struct{})
	close(c)
	return &outage{
		threshold: threshold,
		minUsers:  minUsers,
		now:       now,
		users:     make(map[string]struct{}),
		closed:    c,
		opened:    make(chan struct{}, 1),
		onChange:  onChange,
	}
}

// Now is the backoff clock: real time minus the time spent in outages.
func (o *outage) Now() time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	t := o.now().Add(-o.paused)
	if o.open {
		t = o.openedAt.Add(-o.paused)
	}
	return t
}

// isOpen reports whether the worker is paused for an outage.
func (o *outage) isOpen() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.open
}

// wait blocks while an outage is open.
func (o *outage) wait(ctx context.Context) error {
	o.mu.Lock()
	c := o.closed
	o.mu.Unlock()
	select {
	case <-c:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// success records a call that Gigya answered.
func (o *outage) success() {
	o.mu.Lock()
	o.trial = false
	o.consecutive = 0
	clear(o.users)
	o.mu.Unlock()
}

// failure records an outage-kind failure for user and opens the gate when the
// streak is long and wide enough.
func (o *outage) failure(user string) {
	o.mu.Lock()
	if o.open {
		o.mu.Unlock()
		return
	}
	o.consecutive++
	if len(o.users) < o.minUsers {
		o.users[user] = struct{}{}
	}
	// After a probe closed the outage, the first outage-kind failure
	// reopens it: the probe's method may answer while notifyRegistration
	// still fails, and each reopening costs every event retry budget.
	if !o.trial && (o.consecutive < o.threshold || len(o.users) < o.minUsers) {
		o.mu.Unlock()
		return
	}
	o.open = true
	o.trial = false
	o.openedAt = o.now()
	o.closed = make(chan struct{})
	o.mu.Unlock()
	select {
	case o.opened <- struct{}{}:
	default:
	}
	if o.onChange != nil {
		o.onChange(true)
	}
}

// close ends an outage: Gigya answered a probe.
func (o *outage) close() {
	o.mu.Lock()
	if !o.open {
		o.mu.Unlock()
		return
	}
	o.open = false
	o.paused += o.now().Sub(o.openedAt)
	o.trial = true
	o.consecutive = 0
	clear(o.users)
	close(o.closed)
	o.mu.Unlock()
	if o.onChange != nil {
		o.onChange(false)
	}
}

// probeLoop waits for outages and probes Gigya until it answers, with its own
// exponential backoff between probes (initial doubling up to max). It returns
// when ctx ends.
func (o *outage) probeLoop(ctx context.Context, probe func(context.Context) bool, initial, max time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.opened:
		}
		delay := initial
		for o.isOpen() {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			if probe(ctx) {
				o.close()
				break
			}
			delay *= 2
			if delay > max {
				delay = max
			}
		}
	}
}

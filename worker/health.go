package worker

import (
	"context"
	"sync"
	"time"
)

// The states of a site, the values of regnotify_site_state's state label.
const (
	StateOK            = "ok"
	StateOutage        = "outage"
	StateMisconfigured = "misconfigured"
	StatePaused        = "paused"
)

// siteStates are the states in the order the metrics list them.
var siteStates = [...]string{StateOK, StateOutage, StateMisconfigured, StatePaused}

// health is one site's health: ok, outage, misconfigured or paused (by an
// operator). While a site is not ok its events wait at the gate and none
// calls Gigya; the site's prober finds out when it is ok again.
//
// Outage detection: the site goes into outage after threshold consecutive
// outage-kind failures (transport errors and server errors, not per-user or
// rate-limit answers) coming from at least minUsers different users, so
// that one user's bad luck never pauses the site. Any success resets the
// streak. After a probe ended an outage, the first outage-kind failure
// starts a new one (the probe's method may answer while
// notifyRegistration still fails).
//
// Misconfigured: an answer about the site's settings (KindSiteWide) sets
// the code; only a probe clears it. Paused: only the operator clears it.
// With several reasons the state shows the strongest: paused, then
// misconfigured, then outage.
//
// It is also the clock of the site's event backoffs (Now): a clock that
// stands still while the site is not ok, so that waiting does not count
// against any event's retry budget.
type health struct {
	threshold int
	minUsers  int
	now       func() time.Time

	mu          sync.Mutex
	consecutive int
	users       map[string]struct{}
	trial       bool // an outage was ended by a probe, no call succeeded since
	outage      bool
	misconfig   int // the site-wide errorCode; 0 = none
	paused      bool
	state       string
	stoppedAt   time.Time     // when the site stopped being ok
	stopped     time.Duration // total time not ok, up to the last resumption
	running     chan struct{} // closed while the site is ok
	// wake tells the prober that the state changed (so that it sets its
	// timer anew, without probing); probeNow that a probe is wanted at
	// once (SiteChanged, a new data center). Buffered, never block.
	wake     chan struct{}
	probeNow chan struct{}
	onChange func(from, to string, code int)
}

func newHealth(threshold, minUsers int, now func() time.Time, onChange func(from, to string, code int)) *health {
	c := make(chan struct{})
	close(c)
	return &health{
		threshold: threshold, minUsers: minUsers, now: now,
		users: make(map[string]struct{}), state: StateOK, running: c,
		wake: make(chan struct{}, 1), probeNow: make(chan struct{}, 1), onChange: onChange,
	}
}

// Now is the backoff clock: real time minus the time the site was not ok.
func (h *health) Now() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state != StateOK {
		return h.stoppedAt.Add(-h.stopped)
	}
	return h.now().Add(-h.stopped)
}

// current returns the state and the site-wide code (misconfigured).
func (h *health) current() (string, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state, h.misconfig
}

func (h *health) ok() bool {
	s, _ := h.current()
	return s == StateOK
}

// wait blocks while the site is not ok.
func (h *health) wait(ctx context.Context) error {
	h.mu.Lock()
	c := h.running
	h.mu.Unlock()
	select {
	case <-c:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// success records a call that Gigya answered.
func (h *health) success() {
	h.mu.Lock()
	h.trial = false
	h.consecutive = 0
	clear(h.users)
	h.mu.Unlock()
}

// failure records an outage-kind failure for user and starts an outage
// when the streak is long and wide enough.
func (h *health) failure(user string) {
	h.mu.Lock()
	if h.outage {
		h.mu.Unlock()
		return
	}
	h.consecutive++
	if len(h.users) < h.minUsers {
		h.users[user] = struct{}{}
	}
	if !h.trial && (h.consecutive < h.threshold || len(h.users) < h.minUsers) {
		h.mu.Unlock()
		return
	}
	h.outage, h.trial = true, false
	h.updateLocked()
}

// endOutage ends an outage: the site answered a probe.
func (h *health) endOutage() {
	h.mu.Lock()
	if !h.outage {
		h.mu.Unlock()
		return
	}
	h.outage, h.trial, h.consecutive = false, true, 0
	clear(h.users)
	h.updateLocked()
}

// misconfigure marks the site misconfigured by code (0 clears it).
func (h *health) misconfigure(code int) {
	h.mu.Lock()
	if h.misconfig == code {
		h.mu.Unlock()
		return
	}
	h.misconfig = code
	h.updateLocked()
}

// pause sets or clears the operator pause.
func (h *health) pause(paused bool) {
	h.mu.Lock()
	h.paused = paused
	h.updateLocked()
}

// poke tells the prober that the state changed. It does not probe at
// once: the answer that changed the state has just come, and probing it
// again at once made a site whose notify calls fail site-wide while the
// probe's call succeeds (a wrong partner secret: getUserInfo signs no
// siteUID) flap ok → misconfigured → ok as fast as events arrived, with
// an error line each time (e2e TestSecrets, 2026-12-01).
func (h *health) poke() { signal(h.wake) }

// probe asks the prober to probe at once.
func (h *health) probe() { signal(h.probeNow) }

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// updateLocked recomputes the state, moves the gate and the clock, and
// unlocks h; onChange runs after the unlock. A change of the site-wide code
// alone is reported too (from == to == misconfigured).
func (h *health) updateLocked() {
	from, code := h.state, h.misconfig
	to := StateOK
	switch {
	case h.paused:
		to = StatePaused
	case h.misconfig != 0:
		to = StateMisconfigured
	case h.outage:
		to = StateOutage
	}
	now := h.now()
	switch {
	case from == StateOK && to != StateOK:
		h.stoppedAt = now
		h.running = make(chan struct{})
	case from != StateOK && to == StateOK:
		h.stopped += now.Sub(h.stoppedAt)
		close(h.running)
	}
	h.state = to
	h.mu.Unlock()
	h.poke()
	if h.onChange != nil && (from != to || to == StateMisconfigured) {
		h.onChange(from, to, code)
	}
}

// inOutage reports whether the site is in outage (whatever its state shows).
func (h *health) inOutage() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.outage
}

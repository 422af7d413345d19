package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/regnotify/regnotify/events"
	"github.com/regnotify/regnotify/gigya"
	"github.com/regnotify/regnotify/worker/deadletter"
	"github.com/regnotify/regnotify/worker/quota"
	"github.com/regnotify/regnotify/worker/tracing"
)

// Gigya is what the worker needs from the Gigya client. The client signs
// every attempt anew (UIDTimestamp, UIDSig, request credentials) and corrects
// its clock on 403002; errors it returns are *gigya.Error.
type Gigya interface {
	NotifyRegistration(ctx context.Context, req gigya.NotifyRequest) (gigya.Response, error)
	GetUserInfo(ctx context.Context, uid string) (gigya.UserInfo, error)
}

// job is one Kafka message on its way through the worker.
type job struct {
	msg   kafka.Message
	key   string // ordering key: the record key, else the uid; "" = unordered
	ev    events.Event
	evErr error // the decode (or routing) error of an invalid event
	part  *partitionOffsets
	site  *site  // nil: routed to no site (evErr says why)
	route *route // the topic's
	// slot: the job holds a concurrency slot of its lane (release gives
	// it back). It gives it up while its site is not ok, so that a
	// waiting site never holds every slot.
	slot     bool
	overSlot bool // the slot is over the limit (see reacquireSlot)
	release  func()
	span     tracing.Event // the event's trace span; zero with tracing off
	end      ending        // how it ended, once handle returned true
}

// handle takes one event to its end and reports whether it ended: notified,
// already done, or durably dead-lettered. It returns false only when ctx
// ended first; the event is then left uncommitted and will be redelivered.
func (w *Worker) handle(ctx context.Context, j *job) bool {
	ctx = j.span.Into(ctx)
	if err := w.awaitDecode(ctx, j); err != nil {
		return false
	}
	if j.evErr != nil {
		j.end = ending{outcome: OutcomeDLQInvalid, message: j.evErr.Error()}
		return w.deadLetter(ctx, j, j.end)
	}
	e, err := w.notify(ctx, j)
	if err != nil {
		return false
	}
	j.end = e
	switch e.outcome {
	case OutcomeNotified, OutcomeAlreadyDone:
		w.metrics.events.WithLabelValues(j.siteName(), j.msg.Topic, e.outcome).Inc()
		return true
	default:
		return w.deadLetter(ctx, j, e)
	}
}

// siteName is the job's site label: "" when routed to none.
func (j *job) siteName() string {
	if j.site == nil {
		return ""
	}
	return j.site.name
}

// ending is how an event ended: its outcome and, for a dead letter, why.
// The dead-letter class follows from the outcome (dlqClass).
type ending struct {
	outcome  string
	code     int // Gigya errorCode, 0 if none
	message  string
	callID   string
	attempts int
}

// endingOf is the ending with outcome of an event whose last call failed
// with err.
func endingOf(outcome string, err error, attempts int) ending {
	e := ending{outcome: outcome, message: err.Error(), attempts: attempts}
	var ge *gigya.Error
	if errors.As(err, &ge) {
		e.code, e.message, e.callID = ge.Code, ge.Error(), ge.CallID
	}
	if outcome == OutcomeDLQExhausted {
		e.message = fmt.Sprintf("retries exhausted after %d attempts: %s", attempts, e.message)
	}
	return e
}

func (e ending) failure() deadletter.Failure {
	return deadletter.Failure{Class: dlqClass(e.outcome), Code: e.code, Message: e.message, CallID: e.callID, Attempts: e.attempts}
}

// eventBackOff is an event's retry schedule: exponential with jitter on the
// outage-aware clock, doubled once after a rate-limit answer.
type eventBackOff struct {
	*backoff.ExponentialBackOff
	harder bool
}

func (b *eventBackOff) NextBackOff() time.Duration {
	d := b.ExponentialBackOff.NextBackOff()
	if b.harder && d != backoff.Stop {
		d *= 2
	}
	b.harder = false
	return d
}

func (w *Worker) newBackOff(clock backoff.Clock) *eventBackOff {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     w.cfg.RetryInitial,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         w.cfg.RetryMaxInterval,
		MaxElapsedTime:      w.cfg.RetryMaxElapsed,
		Stop:                backoff.Stop,
		Clock:               clock,
	}
	b.Reset()
	return &eventBackOff{ExponentialBackOff: b}
}

// notify calls the site's Gigya for j's event until it succeeds, fails for
// good or runs out of retry budget; Decide says which. Site-wide answers
// never end the event: the site goes misconfigured and the event waits,
// or (301001) the site follows Gigya's apiDomain and the event retries at
// once. A 403048 answer does not end it either: the event waits for quota
// and calls again, without backoff and without spending retry budget
// (eventClock). The error is non-nil only if ctx ended.
func (w *Worker) notify(ctx context.Context, j *job) (ending, error) {
	s, ev := j.site, j.ev
	req := gigya.NotifyRequest{UID: ev.UID, SiteUID: ev.SiteUID, CID: ev.CID, Context: ev.EventID}
	clock := &eventClock{base: s.health}
	b := w.newBackOff(clock)
	bctx := backoff.WithContext(b, ctx)
	var lastErr, followed string
	var unpaced time.Duration // the wait after a 403048 no budget paces
	for attempts := 1; ; attempts++ {
		p, err := w.gate(ctx, j, attempts, clock)
		if err != nil {
			return ending{}, err
		}
		actx := gigya.WithAttempt(ctx, attempts)
		sent := clock.base.Now()
		_, err = s.gigya.NotifyRegistration(actx, req)
		if err == nil {
			s.health.success()
			return ending{outcome: OutcomeNotified, attempts: attempts}, nil
		}
		if ctx.Err() != nil {
			return ending{}, ctx.Err()
		}
		d := Decide(err)
		w.account(s, d, ev.UID)
		if d.Kind == KindUnknownUser && ev.SiteUID != "" {
			if e, done := w.confirmLinked(actx, j, &d, &err, &p, &sent); done {
				e.attempts = attempts
				return e, nil
			}
			if ctx.Err() != nil {
				// The confirmation was cut short (rebalance, shutdown):
				// nothing was decided, the event is redelivered.
				return ending{}, ctx.Err()
			}
		}
		if d.Kind == KindRateLimited {
			// Not the event's failure: the quota's. It waits for a
			// token at the gate; the call's time is not its budget's.
			if !w.budgets.rateLimited(p) {
				// A site without a budget (rateLimit 0, no quota) has no
				// rate to cut: calling again at once looped at full speed
				// (57 calls per event, found in review). Back off,
				// outside the retry budget all the same.
				unpaced = min(max(2*unpaced, w.cfg.RetryInitial), w.cfg.RetryMaxInterval)
				if err := sleep(ctx, unpaced); err != nil {
					return ending{}, err
				}
			}
			clock.exclude(sent)
			continue
		}
		if w.siteWide(s, d, err, &followed) {
			continue // waits at the gate, or retries at the new data center
		}
		if !d.Retry {
			return endingOf(d.Outcome, err, attempts), nil
		}
		b.harder = d.Harder
		if msg := err.Error(); msg != lastErr {
			w.log.Debug("transient Gigya failure, will retry", zap.String("site", s.name), zap.String("eventId", ev.EventID), zap.Int("attempt", attempts), zap.String("error", msg))
			lastErr = msg
		}
		next := bctx.NextBackOff()
		if next == backoff.Stop && d.Health == HealthDown && !s.health.ok() {
			// The budget ran out just as the site went down as a whole:
			// the event waits out the outage at the gate and gets one
			// more attempt after it, instead of a dead letter for the
			// outage.
			continue
		}
		if next == backoff.Stop {
			if ctx.Err() != nil {
				return ending{}, ctx.Err()
			}
			return endingOf(d.Outcome, err, attempts), nil
		}
		if err := sleep(ctx, next); err != nil {
			return ending{}, err
		}
	}
}

// siteWide handles an answer about the site rather than the event and
// reports whether it was one. A misconfiguration marks the site (the
// event then waits at the gate). 301001 moves the site's client to the
// answer's apiDomain; the same apiDomain named again to the same event,
// after it followed it, marks the site misconfigured instead of looping.
func (w *Worker) siteWide(s *site, d Decision, err error, followed *string) bool {
	switch d.Kind {
	case KindSiteWide:
		s.health.misconfigure(siteCode(err))
		return true
	case KindWrongDataCenter:
		var ge *gigya.Error
		errors.As(err, &ge)
		if ge.APIDomain != "" && ge.APIDomain != *followed {
			if now := w.followDataCenter(s, err); now != "" {
				*followed = now
				return true
			}
		}
		s.health.misconfigure(301001)
		return true
	}
	return false
}

// gate waits before an attempt until the site is ok (without a slot
// meanwhile), then for a slot of the event's lane and the site's budgets,
// and returns the budgets' permits for the call. The quota wait is
// excluded from the event's retry budget.
func (w *Worker) gate(ctx context.Context, j *job, attempt int, clock *eventClock) (permits, error) {
	if err := w.waitSite(ctx, j); err != nil {
		return permits{}, err
	}
	if !j.slot {
		if err := w.reacquireSlot(ctx, j); err != nil {
			return permits{}, err
		}
	}
	p, err := w.waitQuota(ctx, j, clock)
	if err != nil {
		return permits{}, err
	}
	if attempt > 1 {
		w.metrics.retries.Inc()
	}
	return p, nil
}

// waitSite waits until j's site is ok, without a slot meanwhile; the wait
// is an "outage" span of the event's trace.
func (w *Worker) waitSite(ctx context.Context, j *job) error {
	s := j.site
	if s.health.ok() {
		return nil
	}
	span := tracing.StartWait(ctx, "outage")
	defer span.End()
	for !s.health.ok() {
		w.releaseSlot(j)
		s.parked.Add(1)
		err := s.health.wait(ctx)
		s.parked.Add(-1)
		if err != nil {
			return err
		}
	}
	return nil
}

// waitQuota takes a token of every budget of j's site, in j's lane.
func (w *Worker) waitQuota(ctx context.Context, j *job, clock *eventClock) (permits, error) {
	began := clock.base.Now()
	p, err := w.budgets.acquire(ctx, j.siteName(), j.lane())
	clock.exclude(began)
	return p, err
}

// lane is j's lane, from its topic's route.
func (j *job) lane() quota.Lane {
	if j.route != nil && j.route.lane == LaneBulk {
		return quota.Bulk
	}
	return quota.Live
}

// eventClock is an event's backoff clock: the site's outage-aware clock
// minus the time the event waited for quota (tokens, and calls answered
// 403048), so that neither counts against its retry budget.
type eventClock struct {
	base     backoff.Clock
	excluded time.Duration
}

// Now implements backoff.Clock.
func (c *eventClock) Now() time.Time { return c.base.Now().Add(-c.excluded) }

// exclude takes the time since since (on the base clock) out of the retry
// budget.
func (c *eventClock) exclude(since time.Time) {
	c.excluded += max(0, c.base.Now().Sub(since))
}

// acquireSlot takes a concurrency slot of j's lane for j.
func (w *Worker) acquireSlot(ctx context.Context, j *job) error {
	release, err := w.budgets.slots.Acquire(ctx, j.lane())
	if err != nil {
		return err
	}
	j.slot, j.release = true, release
	return nil
}

// reacquireSlot takes a slot of j's lane back for a job that waited
// without one. It waits at most a second, then runs over the limit: every
// slot may be held by events queued behind waiting ones with their key,
// which cannot run before it (a deadlock otherwise). The overrun is bounded
// by the events that waited, and the site's budget still paces the calls.
func (w *Worker) reacquireSlot(ctx context.Context, j *job) error {
	sctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	err := w.acquireSlot(sctx, j)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		j.slot, j.overSlot = true, true
	}
	return nil
}

// releaseSlot gives j's slot back.
func (w *Worker) releaseSlot(j *job) {
	switch {
	case !j.slot:
	case j.overSlot:
		j.slot, j.overSlot = false, false
	default:
		j.slot = false
		j.release()
	}
}

// account tells the site's outage detector what a failure says about it.
func (w *Worker) account(s *site, d Decision, uid string) {
	switch d.Health {
	case HealthDown:
		s.health.failure(uid)
	case HealthUp:
		s.health.success()
	}
}

// confirmLinked handles an unknown-user answer to a siteUID link: the link
// may already exist (an earlier attempt whose answer was lost, or a
// redelivery). It ends the event as already done, or as rejected (with the
// original answer) when the confirmation cannot say otherwise; a transient
// or rate-limited or site-wide confirmation failure replaces d, err, the
// permits p and the send time sent, so that the whole is retried (or waits
// for the site or the quota).
func (w *Worker) confirmLinked(ctx context.Context, j *job, d *Decision, err *error, p *permits, sent *time.Time) (ending, bool) {
	done, cp, csent, cerr := w.alreadyLinked(ctx, j)
	if done {
		return ending{outcome: OutcomeAlreadyDone}, true
	}
	cd := Decide(cerr)
	siteWide := cd.Kind == KindSiteWide || cd.Kind == KindWrongDataCenter
	if cerr == nil || !cd.Retry && !siteWide || cd.Kind == KindBug {
		return ending{}, false // d stays: rejected with the original answer
	}
	w.account(j.site, cd, j.ev.UID)
	*d, *err, *p, *sent = cd, cerr, cp, csent
	return ending{}, false
}

// alreadyLinked asks the site's Gigya whether j's siteUID is already an
// account's UID: a link made by an earlier attempt whose answer was lost,
// or a redelivery. It returns the permits of its call and when it was sent.
func (w *Worker) alreadyLinked(ctx context.Context, j *job) (bool, permits, time.Time, error) {
	p, err := w.budgets.acquire(ctx, j.siteName(), j.lane())
	if err != nil {
		return false, p, time.Time{}, err
	}
	sent := j.site.health.Now()
	info, err := j.site.gigya.GetUserInfo(ctx, j.ev.SiteUID)
	if err != nil {
		return false, p, sent, err
	}
	return info.IsSiteUID, p, sent, nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/regnotify/regnotify/events"
	"github.com/regnotify/regnotify/gigya"
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
	evErr error // the decode error of an invalid event
	part  *partitionOffsets
}

// handle takes one event to its end and reports whether it ended: notified,
// already done, or durably dead-lettered. It returns false only when ctx
// ended first; the event is then left uncommitted and will be redelivered.
func (w *Worker) handle(ctx context.Context, j *job) bool {
	if j.evErr != nil {
		return w.deadLetter(ctx, j.msg, failure{class: ClassInvalidEvent, message: j.evErr.Error()}, OutcomeDLQInvalid)
	}
	outcome, f, err := w.notify(ctx, j.ev)
	if err != nil {
		return false
	}
	switch outcome {
	case OutcomeNotified, OutcomeAlreadyDone:
		w.metrics.events.WithLabelValues(j.msg.Topic, outcome).Inc()
		return true
	default:
		return w.deadLetter(ctx, j.msg, f, outcome)
	}
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

func (w *Worker) newBackOff() *eventBackOff {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     w.cfg.RetryInitial,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         w.cfg.RetryMaxInterval,
		MaxElapsedTime:      w.cfg.RetryMaxElapsed,
		Stop:                backoff.Stop,
		Clock:               w.outage,
	}
	b.Reset()
	return &eventBackOff{ExponentialBackOff: b}
}

// notify calls Gigya for ev until it succeeds, fails for good or runs out of
// retry budget. The error is non-nil only if ctx ended.
func (w *Worker) notify(ctx context.Context, ev events.Event) (string, failure, error) {
	req := gigya.NotifyRequest{UID: ev.UID, SiteUID: ev.SiteUID, CID: ev.CID, Context: ev.EventID}
	b := w.newBackOff()
	bctx := backoff.WithContext(b, ctx)
	attempts := 0
	var lastErr string
	for {
		if err := w.outage.wait(ctx); err != nil {
			return "", failure{}, err
		}
		if err := w.limiter.Wait(ctx); err != nil {
			return "", failure{}, err
		}
		attempts++
		if attempts > 1 {
			w.metrics.retries.Inc()
		}
		_, err := w.gigya.NotifyRegistration(ctx, req)
		if err == nil {
			w.outage.success()
			return OutcomeNotified, failure{}, nil
		}
		if ctx.Err() != nil {
			return "", failure{}, ctx.Err()
		}
		var ge *gigya.Error
		if !errors.As(err, &ge) {
			// Not a Gigya answer nor a classified transport failure: a bug
			// or misconfiguration, retrying cannot help.
			return OutcomeDLQRejected, failure{class: ClassRejected, message: err.Error(), attempts: attempts}, nil
		}
		if !ge.Temporary() {
			w.outage.success() // Gigya answered.
			if !ge.UnknownUser() || ev.SiteUID == "" {
				return OutcomeDLQRejected, failureOf(ClassRejected, ge, attempts), nil
			}
			done, cerr := w.alreadyLinked(ctx, ev.SiteUID)
			if done {
				return OutcomeAlreadyDone, failure{}, nil
			}
			var ce *gigya.Error
			if cerr == nil || !errors.As(cerr, &ce) || !ce.Temporary() {
				return OutcomeDLQRejected, failureOf(ClassRejected, ge, attempts), nil
			}
			ge = ce // the confirmation failed transiently: retry the whole.
		}
		if ge.Transport() || !(ge.PerUser() || ge.RateLimited()) { // outage-kind
			w.outage.failure(ev.UID)
		} else {
			w.outage.success()
		}
		outageKind := ge.Transport() || !(ge.PerUser() || ge.RateLimited())
		b.harder = ge.RateLimited()
		if msg := ge.Error(); msg != lastErr {
			w.log.Debug("transient Gigya failure, will retry", zap.String("eventId", ev.EventID), zap.Int("attempt", attempts), zap.String("error", msg))
			lastErr = msg
		}
		next := bctx.NextBackOff()
		if next == backoff.Stop && outageKind && w.outage.isOpen() {
			// The budget ran out just as Gigya went down as a whole: the
			// event waits out the outage at the gate and gets one more
			// attempt after it, instead of a dead letter for the outage.
			continue
		}
		if next == backoff.Stop {
			if ctx.Err() != nil {
				return "", failure{}, ctx.Err()
			}
			f := failureOf(ClassRetriesExhausted, ge, attempts)
			f.message = fmt.Sprintf("retries exhausted after %d attempts: %s", attempts, f.message)
			return OutcomeDLQExhausted, f, nil
		}
		if err := sleep(ctx, next); err != nil {
			return "", failure{}, err
		}
	}
}

// alreadyLinked asks Gigya whether siteUID is already an account's UID: a
// link made by an earlier attempt whose answer was lost, or a redelivery.
func (w *Worker) alreadyLinked(ctx context.Context, siteUID string) (bool, error) {
	if err := w.limiter.Wait(ctx); err != nil {
		return false, err
	}
	info, err := w.gigya.GetUserInfo(ctx, siteUID)
	if err != nil {
		return false, err
	}
	return info.IsSiteUID, nil
}

func failureOf(class string, ge *gigya.Error, attempts int) failure {
	return failure{class: class, code: ge.Code, message: ge.Error(), callID: ge.CallID, attempts: attempts}
}

// deadLetter writes m to the dead-letter topic and retries until the write
// is acknowledged: a dead letter is never dropped. While writes fail the
// worker reports not ready and takes no new events. It returns false only if
// ctx ended first.
func (w *Worker) deadLetter(ctx context.Context, m kafka.Message, f failure, outcome string) bool {
	rec := deadLetterRecord(m, f, w.cfg.Group, w.now())
	b := &backoff.ExponentialBackOff{
		InitialInterval: 100 * time.Millisecond, RandomizationFactor: 0.5, Multiplier: 2,
		MaxInterval: 5 * time.Second, MaxElapsedTime: 0, // never give up: dropping is not an option
		Stop: backoff.Stop, Clock: backoff.SystemClock,
	}
	b.Reset()
	failing, written := false, false
	defer func() {
		if failing {
			w.dlqFailing(-1, written)
		}
	}()
	for stubs := 0; ; {
		err := w.dlq.WriteMessages(ctx, rec)
		if err == nil {
			written = true
			break
		}
		if ctx.Err() != nil {
			return false
		}
		if tooLarge(err) && stubs < 2 {
			// The topic will never take this record: send what says
			// where the event is and why it failed, without its value
			// (and then without its key and original headers), rather
			// than retrying forever with every partition stopped.
			stubs++
			rec = stubRecord(rec, m, stubs)
			continue
		}
		if !failing {
			failing = true
			w.dlqFailing(+1, false)
		}
		w.log.Debug("dead-letter write failed, will retry", zap.String("topic", m.Topic), zap.Int64("offset", m.Offset), zap.Error(err))
		if sleep(ctx, b.NextBackOff()) != nil {
			return false
		}
	}
	w.metrics.events.WithLabelValues(m.Topic, outcome).Inc()
	fields := []zap.Field{
		zap.String("class", f.class), zap.String("topic", m.Topic), zap.Int("partition", m.Partition),
		zap.Int64("offset", m.Offset), zap.Int("attempts", f.attempts), zap.String("reason", f.message),
	}
	if f.code != 0 {
		fields = append(fields, zap.Int("code", f.code))
	}
	w.log.Warn("event dead-lettered", fields...)
	return true
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

func errorsAsGigya(err error) (*gigya.Error, bool) {
	var ge *gigya.Error
	ok := errors.As(err, &ge)
	return ge, ok
}

// tooLarge reports whether a write failed because the record exceeds what
// the broker or the writer accepts: retrying the same record cannot help.
func tooLarge(err error) bool {
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if e != nil && tooLarge(e) {
				return true
			}
		}
		return false
	}
	var mt kafka.MessageTooLargeError
	return errors.As(err, &mt) || errors.Is(err, kafka.MessageSizeTooLarge) || errors.Is(err, kafka.RecordListTooLarge)
}

// stubRecord is the dead-letter record rec without its value (level 1), or
// also without its key and the original headers (level 2), saying so in
// regnotify.value.dropped and in the error message.
func stubRecord(rec, orig kafka.Message, level int) kafka.Message {
	note := fmt.Sprintf("value of %d bytes dropped: too large for the dead-letter topic", len(orig.Value))
	if level >= 2 {
		note = fmt.Sprintf("value of %d bytes, key of %d bytes and original headers dropped: too large for the dead-letter topic", len(orig.Value), len(orig.Key))
	}
	out := kafka.Message{Key: rec.Key}
	if level >= 2 {
		out.Key = nil
	}
	for _, h := range rec.Headers {
		if level >= 2 && !strings.HasPrefix(h.Key, "regnotify.") {
			continue
		}
		if h.Key == HeaderErrorMessage {
			h = kafka.Header{Key: h.Key, Value: []byte(string(h.Value) + "; " + note)}
		}
		out.Headers = append(out.Headers, h)
	}
	out.Headers = append(out.Headers, kafka.Header{Key: HeaderValueDropped, Value: []byte(note)})
	return out
}

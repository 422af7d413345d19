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
	"github.com/regnotify/regnotify/events/formats"
)

// prepare routes and decodes a fetched message into a job: its site (by
// the topic's route), its event, and its ordering key. A record routed to
// no site, or invalid, keeps its error for an invalid_event dead letter.
func (w *Worker) prepare(ctx context.Context, m kafka.Message, p *partitionOffsets) *job {
	j := &job{msg: m, part: p, route: w.routes[m.Topic]}
	if isTxnMarker(m) {
		j.marker = true
		return j
	}
	j.site, j.evErr = w.routeOf(m, j.route)
	if j.evErr == nil {
		j.ev, j.evErr = w.decode(ctx, j)
	}
	j.key = string(m.Key)
	if j.key == "" && j.evErr == nil {
		j.key = j.ev.UID
	}
	return j
}

// decode decodes j's record with its topic's decoder (events.Decode by
// default), a panic turned into an invalid event.
func (w *Worker) decode(ctx context.Context, j *job) (ev events.Event, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("invalid event: the decoder failed on this record (internal error: %v)", r)
		}
	}()
	if j.route == nil || j.route.decoder == nil {
		return events.Decode(j.msg.Topic, j.msg.Value)
	}
	m := j.msg
	rec := formats.Record{Topic: m.Topic, Key: m.Key, Value: m.Value, Headers: make([]formats.Header, len(m.Headers))}
	for i, h := range m.Headers {
		rec.Headers[i] = formats.Header{Key: h.Key, Value: h.Value}
	}
	return j.route.decoder.Decode(ctx, rec)
}

// awaitDecode re-decodes j while its decoder says it cannot decide now (a
// *formats.TransientError: the schema registry cannot be reached), with
// backoff and without end: such a record is not invalid, and waiting for
// the registry does not spend the event's retry budget. Events waiting so
// are counted by regnotify_decode_waiting. It returns ctx's error if ctx
// ends first.
func (w *Worker) awaitDecode(ctx context.Context, j *job) error {
	var te *formats.TransientError
	if !errors.As(j.evErr, &te) {
		return nil
	}
	w.metrics.decodeWaiting.Inc()
	defer w.metrics.decodeWaiting.Dec()
	w.log.Warn("cannot decode an event now (schema registry?); it waits and is decoded again",
		zap.String("topic", j.msg.Topic), zap.Int("partition", j.msg.Partition), zap.Int64("offset", j.msg.Offset), zap.Error(j.evErr))
	b := &backoff.ExponentialBackOff{
		InitialInterval: w.cfg.RetryInitial, RandomizationFactor: 0.5, Multiplier: 2,
		MaxInterval: w.cfg.RetryMaxInterval, MaxElapsedTime: 0, Stop: backoff.Stop, Clock: backoff.SystemClock,
	}
	b.Reset()
	for errors.As(j.evErr, &te) {
		if err := sleep(ctx, b.NextBackOff()); err != nil {
			return err
		}
		j.ev, j.evErr = w.decode(ctx, j)
	}
	if j.key == "" && j.evErr == nil {
		j.key = j.ev.UID // for the record only: the job is already scheduled
	}
	return nil
}

// parkLimitFor is how many events of a site that is not ok the worker takes
// (they wait without a slot): a tenth of the concurrency, at least one. Jobs
// queued behind one of them (same key) hold slots, so this also bounds the
// slots a waiting site can hold.
func parkLimitFor(concurrency int) int { return max(1, concurrency/10) }

var _ = time.Second

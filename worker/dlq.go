package worker

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/regnotify/regnotify/worker/deadletter"
	"github.com/regnotify/regnotify/worker/kafkaio"
)

// MessageWriter is what the worker needs from a Kafka writer: a synchronous
// write that returns once the broker acknowledged (acks=all) or failed.
type MessageWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// NewDeadLetterWriter returns the writer the contract asks for: acks=all,
// synchronous, the record key kept for partitioning (kafkaio.NewWriter).
func NewDeadLetterWriter(k kafkaio.Kafka, topic string) (*kafkaio.Writer, error) {
	return kafkaio.NewWriter(k, kafkaio.WriterOptions{Topic: topic})
}

// deadLetter writes m to the dead-letter topic and retries until the write
// is acknowledged: a dead letter is never dropped. While writes fail the
// worker reports not ready and takes no new events. It returns false only if
// ctx ended first.
func (w *Worker) deadLetter(ctx context.Context, j *job, e ending) bool {
	m := j.msg
	f := e.failure()
	f.Site = j.siteName()
	rec := deadletter.Record(m, f, w.cfg.Group, w.now())
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
		if ctx.Err() != nil {
			// kafka-go may still write a record whose call returns the
			// context's error; the event is redelivered anyway, so do
			// not start a write that can only make a duplicate.
			return false
		}
		err := w.dlq.WriteMessages(ctx, rec)
		if err == nil {
			written = true
			break
		}
		if ctx.Err() != nil {
			return false
		}
		if kafkaio.TooLarge(err) && stubs < 2 {
			// The topic will never take this record: send what says
			// where the event is and why it failed, without its value
			// (and then without its key and original headers), rather
			// than retrying forever with every partition stopped.
			stubs++
			rec = deadletter.Stub(rec, m, stubs)
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
	w.metrics.events.WithLabelValues(f.Site, m.Topic, e.outcome).Inc()
	w.logDeadLetter(m, f)
	return true
}

func (w *Worker) logDeadLetter(m kafka.Message, f deadletter.Failure) {
	fields := []zap.Field{
		zap.String("class", f.Class), zap.String("site", f.Site), zap.String("topic", m.Topic), zap.Int("partition", m.Partition),
		zap.Int64("offset", m.Offset), zap.Int("attempts", f.Attempts), zap.String("reason", f.Message),
	}
	if f.Code != 0 {
		fields = append(fields, zap.Int("code", f.Code))
	}
	w.log.Warn("event dead-lettered", fields...)
}

package worker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/regnotify/regnotify/events"
	"github.com/regnotify/regnotify/worker/kafkaio"
	"github.com/regnotify/regnotify/worker/kafkaread"
)

// partitionReader is where the worker is in one assigned partition.
type partitionReader struct {
	topic     string
	partition int
	next      int64 // the offset to read from: the assignment's, then after the last fetched message
	offsets   *partitionOffsets
}

// openError is a partition reader that could not be set up (its config
// rejected, its offset not set): nothing is read from the partition until
// it can be.
type openError struct{ err error }

func (e *openError) Error() string { return "open partition reader: " + e.err.Error() }
func (e *openError) Unwrap() error { return e.err }

// readPartition owns one partition's reading until ctx ends: it runs fetch
// and, when fetch fails, retries it a second later from where it stopped.
// While a reader cannot be set up the worker reports not ready, so that a
// silently stopped partition cannot pass for a healthy one.
func (w *Worker) readPartition(ctx context.Context, pr *partitionReader, sched *keyed) {
	failing := false
	setFailing := func(f bool) {
		if f != failing {
			failing = f
			w.readerFailing(f)
		}
	}
	defer setFailing(false)
	for {
		err := w.fetch(ctx, pr, sched, func() { setFailing(false) })
		if ctx.Err() != nil {
			return
		}
		var oe *openError
		if errors.As(err, &oe) {
			setFailing(true)
			w.log.Error("partition reader cannot start; retrying", zap.String("topic", pr.topic), zap.Int("partition", pr.partition), zap.Error(err))
		} else {
			w.log.Warn("fetch failed; retrying", zap.String("topic", pr.topic), zap.Int("partition", pr.partition), zap.Error(err))
		}
		if sleep(ctx, time.Second) != nil {
			return
		}
	}
}

// readerFailing counts partitions whose reader cannot be set up.
func (w *Worker) readerFailing(failing bool) {
	if failing {
		w.readerFails.Add(1)
	} else {
		w.readerFails.Add(-1)
	}
}

// fetch reads pr's partition from pr.next and hands each message to sched,
// holding a concurrency slot per message. opened is called once the reader
// is set up. It returns nil when ctx ends, else why it stopped.
func (w *Worker) fetch(ctx context.Context, pr *partitionReader, sched *keyed, opened func()) error {
	w.resolveStart(ctx, pr)
	r, err := w.openReader(w.readerConfig(pr), pr.next)
	if err != nil {
		return &openError{err}
	}
	defer r.Close()
	opened()
	lag := w.metrics.lag.WithLabelValues(pr.topic, strconv.Itoa(pr.partition))
	for {
		m, err := r.Fetch(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("fetch %s/%d: %w", pr.topic, pr.partition, err)
		}
		lag.Set(float64(max(0, m.HighWaterMark-m.Offset-1)))
		if err := w.take(ctx); err != nil {
			return nil // not taken: uncommitted, refetched by whoever owns the partition next
		}
		pr.next = m.Offset + 1
		w.submit(m, pr.offsets, sched)
	}
}

// readerConfig is the read_committed reader of pr's partition. Records the
// reader skips (an aborted transaction's, transaction markers, a reset
// forward) move the commit point in order, after what came before them;
// a reset after the offset fell out of the log follows --start-offset and
// is counted.
func (w *Worker) readerConfig(pr *partitionReader) kafkaread.Config {
	part := strconv.Itoa(pr.partition)
	policy := kafkaread.ResetEarliest
	if w.cfg.StartOffset == "latest" {
		policy = kafkaread.ResetLatest
	}
	return kafkaread.Config{
		Brokers: w.cfg.Kafka.Brokers, Dialer: w.dialer, Topic: pr.topic, Partition: pr.partition,
		MaxWait: 250 * time.Millisecond, Reset: policy, Logger: w.log,
		OnSkip: func(next int64) {
			pr.next = max(pr.next, next)
			pr.offsets.skip(next)
		},
		OnReset: func(rs kafkaread.Reset) {
			w.metrics.offsetResets.WithLabelValues(pr.topic, part).Inc()
			w.metrics.offsetsSkipped.WithLabelValues(pr.topic, part).Add(float64(rs.Skipped))
		},
	}
}

// resolveStart resolves a relative start (no committed offset) once.
// "earliest" or "latest" is resolved and committed
// (partitionOffsets.startAt) even before any event finishes. Left relative,
// the next owner after a rebalance or a crash would resolve "latest" anew
// and skip what came between.
func (w *Worker) resolveStart(ctx context.Context, pr *partitionReader) {
	if pr.next >= 0 {
		return
	}
	resolved, err := kafkaio.ResolveOffset(ctx, w.dialer, w.cfg.Kafka.Brokers, pr.topic, pr.partition, pr.next)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn("cannot resolve the start offset; starting relative", zap.String("topic", pr.topic), zap.Int("partition", pr.partition), zap.Error(err))
		}
		return
	}
	pr.next = resolved
	pr.offsets.startAt(resolved)
}

// submit hands a fetched message, holding its slot, to the scheduler.
func (w *Worker) submit(m kafka.Message, p *partitionOffsets, sched *keyed) {
	j := &job{msg: m, part: p}
	j.ev, j.evErr = decode(m)
	j.key = string(m.Key)
	if j.key == "" && j.evErr == nil {
		j.key = j.ev.UID
	}
	p.add(m.Offset)
	w.metrics.inflight.Inc()
	sched.submit(j)
}

// take waits until the worker may take one more event: a free concurrency
// slot, no Gigya outage, dead-letter writes working.
func (w *Worker) take(ctx context.Context) error {
	for {
		if err := w.outage.wait(ctx); err != nil {
			return err
		}
		if w.dlqFails.Load() == 0 {
			break
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	select {
	case w.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// decode is events.Decode with a panic turned into an invalid event.
func decode(m kafka.Message) (ev events.Event, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("invalid event: the decoder failed on this record (internal error: %v)", r)
		}
	}()
	return events.Decode(m.Topic, m.Value)
}

package worker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.uber.org/zap"

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
		behind := max(0, m.HighWaterMark-m.Offset-1)
		lag.Set(float64(behind))
		pr.offsets.lag.Store(behind)
		j := w.prepare(ctx, m, pr.offsets)
		w.traceEvent(j)
		if err := w.take(ctx, j); err != nil {
			j.span.End("abandoned", 0)
			return nil // not taken: uncommitted, refetched by whoever owns the partition next
		}
		pr.next = m.Offset + 1
		w.submit(j, sched)
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

// submit hands a prepared job, holding its slot, to the scheduler.
func (w *Worker) submit(j *job, sched *keyed) {
	j.part.add(j.msg.Offset)
	w.metrics.inflight.Inc()
	if j.site != nil {
		j.site.inflight.Add(1)
	}
	sched.submit(j)
}

// take waits until the worker may take one more event: dead-letter writes
// working, room at its site, and a free concurrency slot. A site that is
// not ok takes at most parkLimit events (they wait without a slot); beyond
// that the partition waits for the site.
func (w *Worker) take(ctx context.Context, j *job) error {
	for w.dlqFails.Load() != 0 {
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	s := j.site
	if s == nil || j.evErr != nil { // an invalid event needs no Gigya
		return w.acquireSlot(ctx, j)
	}
	parked := func() bool { return !s.health.ok() && s.inflight.Load() >= int64(w.parkLimit) }
	for {
		for parked() {
			if err := s.health.wait(ctx); err != nil {
				return err
			}
		}
		if err := w.acquireSlot(ctx, j); err != nil {
			return err
		}
		if !parked() {
			return nil
		}
		// The site stopped being ok while this fetcher waited for the
		// slot (its running events gave theirs back as they began to
		// wait): taking the event anyway let one site's waiting events
		// grow past its share and hold every runner, stalling the other
		// sites (review, 2026-12-01).
		w.releaseSlot(j)
	}
}

package worker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/regnotify/regnotify/worker/kafkaio"
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
	rcfg := kafkaio.PartitionReaderConfig(w.dialer, w.cfg.Kafka.Brokers, pr.topic, pr.partition, 256, w.log)
	r, err := w.openReader(rcfg, pr.next)
	if err != nil {
		return &openError{err}
	}
	defer kafkaio.CloseBounded(w.log, "partition reader", r.Close, 5*time.Second)
	opened()
	lag := w.metrics.lag.WithLabelValues(pr.topic, strconv.Itoa(pr.partition))
	for {
		m, err := r.FetchMessage(ctx)
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
	p := j.part
	if j.marker {
		// kafka-go hands out transaction markers as records; they are
		// not events. Finished at once, nothing to notify.
		w.log.Debug("skipping a transaction marker", zap.String("topic", j.msg.Topic), zap.Int("partition", j.msg.Partition), zap.Int64("offset", j.msg.Offset))
		p.add(j.msg.Offset)
		p.finish(j.msg.Offset)
		w.releaseSlot(j)
		return
	}
	p.add(j.msg.Offset)
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
	if s := j.site; s != nil {
		for !s.health.ok() && s.inflight.Load() >= int64(w.parkLimit) {
			if err := s.health.wait(ctx); err != nil {
				return err
			}
		}
	}
	return w.acquireSlot(ctx, j)
}

// isTxnMarker reports whether m has the shape of a transaction control
// record (key: version 0 and type abort or commit; value: version 0 and the
// coordinator epoch). kafka-go does not filter them out.
func isTxnMarker(m kafka.Message) bool {
	return len(m.Key) == 4 && len(m.Value) == 6 && m.Key[0] == 0 && m.Key[1] == 0 && m.Key[2] == 0 &&
		m.Key[3] <= 1 && m.Value[0] == 0 && m.Value[1] == 0
}

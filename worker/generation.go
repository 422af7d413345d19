package worker

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/regnotify/regnotify/worker/status"
)

// generation is one consumer-group generation of this worker: the assigned
// partitions with their offsets, the committer, the keyed scheduler and the
// partition readers.
type generation struct {
	w          *Worker
	gen        *kafka.Generation
	parts      map[topicPartition]*partitionOffsets
	commit     *committer
	idle       chan struct{} // a partition's fetched events all finished
	sched      *keyed
	cancelProc context.CancelFunc
	fetchers   sync.WaitGroup
}

// runGeneration consumes the partitions assigned in gen until the generation
// ends (a rebalance) or ctx ends (shutdown), then drains: in-flight events
// may finish within a bound, finished offsets are committed, and what did
// not finish stays uncommitted for the next owner.
func (w *Worker) runGeneration(ctx, genCtx context.Context, gen *kafka.Generation, leave func()) {
	fetchCtx, stopFetch := context.WithCancel(genCtx)
	defer stopFetch()
	stopOnShutdown := context.AfterFunc(ctx, stopFetch)
	defer stopOnShutdown()
	// Processing outlives the shutdown signal: in-flight events get the
	// drain time to finish before they are abandoned.
	procCtx, cancelProc := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelProc()

	g := w.newGeneration(gen, cancelProc)
	w.updateShares(genCtx, gen)
	w.gen.Store(g)
	defer w.gen.Store(nil)
	w.joined.Store(true)
	defer w.joined.Store(false)
	g.sched = newKeyed(w.runners(), func(j *job) { w.runJob(procCtx, j) })
	defer g.sched.stop() // after the drain below: every submitted job has run
	g.startReaders(fetchCtx)

	tick := time.NewTicker(w.cfg.CommitInterval)
	defer tick.Stop()
	g.consume(fetchCtx, tick)
	g.fetchers.Wait()
	reason := g.drain(genCtx, tick)
	if reason == "shutdown" {
		leave()
	}
	g.commit.commit()
	for tp := range g.parts {
		w.metrics.lag.DeleteLabelValues(tp.topic, strconv.Itoa(tp.partition))
	}
	w.log.Info("left consumer group generation", zap.Int32("generation", gen.ID), zap.String("reason", reason))
}

func (w *Worker) newGeneration(gen *kafka.Generation, cancelProc context.CancelFunc) *generation {
	g := &generation{w: w, gen: gen, parts: make(map[topicPartition]*partitionOffsets), idle: make(chan struct{}, 1), cancelProc: cancelProc}
	var assigned []string
	for topic, as := range gen.Assignments {
		for _, a := range as {
			p := newPartitionOffsets()
			p.drained = g.idle
			g.parts[topicPartition{topic, a.ID}] = p
			assigned = append(assigned, topic+"/"+strconv.Itoa(a.ID))
		}
	}
	slices.Sort(assigned)
	g.commit = newCommitter(gen, g.parts, w.metrics, w.log)
	w.log.Info("joined consumer group", zap.Int32("generation", gen.ID), zap.Strings("partitions", assigned))
	return g
}

// startReaders starts one reader goroutine per assigned partition, until
// ctx ends.
func (g *generation) startReaders(ctx context.Context) {
	for topic, as := range g.gen.Assignments {
		for _, a := range as {
			pr := &partitionReader{topic: topic, partition: a.ID, next: a.Offset, offsets: g.parts[topicPartition{topic, a.ID}]}
			g.fetchers.Add(1)
			go func() {
				defer g.fetchers.Done()
				g.w.readPartition(ctx, pr, g.sched)
			}()
		}
	}
}

// consume commits while the partitions are read, until fetchCtx ends. A
// partition whose fetched events have all finished (the end of a backlog, a
// quiet stream) is committed within a tenth of the interval rather than at
// the next tick, so that the group's offsets show the work done; a busy
// partition is committed once per interval.
func (g *generation) consume(fetchCtx context.Context, tick *time.Ticker) {
	var soon <-chan time.Time
	for fetchCtx.Err() == nil {
		select {
		case <-fetchCtx.Done():
		case <-tick.C:
			g.w.beat()
			g.commit.commit()
		case <-g.idle:
			if soon == nil {
				soon = time.After(max(0, g.w.cfg.CommitInterval/10-g.commit.sinceLast()))
			}
		case <-soon:
			soon = nil
			g.commit.commit()
		}
	}
}

// drain lets in-flight events finish within the drain time of the reason
// the generation ends ("shutdown" or "rebalance", returned), committing on
// the way; what is still unfinished then is abandoned.
func (g *generation) drain(genCtx context.Context, tick *time.Ticker) string {
	w := g.w
	drain, reason, genDone := w.cfg.ShutdownTimeout, "shutdown", genCtx.Done()
	if genCtx.Err() != nil {
		reason = "rebalance"
		drain = min(drain, w.cfg.rebalanceDrain())
		genDone = nil
	}
	drained := make(chan struct{})
	go func() { g.sched.wait(); close(drained) }()
	began := time.Now()
	deadline := time.NewTimer(drain)
	defer deadline.Stop()
	abandon := func(why string) string {
		w.log.Warn("abandoning unfinished events, they will be redelivered",
			zap.String("reason", reason), zap.String("why", why), zap.Int("unfinished", g.commit.unfinished()))
		g.cancelProc()
		<-drained
		return reason
	}
	outageCheck := time.NewTicker(100 * time.Millisecond)
	defer outageCheck.Stop()
	for {
		select {
		case <-drained:
			return reason
		case <-tick.C:
			w.beat()
			g.commit.commit()
		case <-genDone:
			// A rebalance began during a shutdown drain: the session
			// bound applies from now on.
			genDone = nil
			if left := drain - time.Since(began); left > w.cfg.rebalanceDrain() {
				deadline.Reset(w.cfg.rebalanceDrain())
			}
		case <-outageCheck.C:
			if s := w.waitingSite(); s != "" {
				// Nothing of a site that is not ok can finish: waiting
				// only delays the rebalance or the shutdown.
				return abandon("site " + s + " not ok")
			}
		case <-deadline.C:
			return abandon("drain time over")
		}
	}
}

// runners is how many jobs may run or wait at once: every slot, and the
// events of sites that are not ok waiting without a slot (parkLimit per
// site, plus those in flight when their site stopped), so that a job never
// waits for a runner.
func (w *Worker) runners() int {
	return 2*w.cfg.Concurrency + len(w.sites)*w.parkLimit
}

// waitingSite names a site that is not ok and has unfinished events, or "".
func (w *Worker) waitingSite() string {
	for _, s := range w.sites {
		if !s.health.ok() && s.inflight.Load() > 0 {
			return s.name
		}
	}
	return ""
}

// status is the generation's partitions for Status, sorted.
func (g *generation) status() []status.Partition {
	out := make([]status.Partition, 0, len(g.parts))
	for tp, p := range g.parts {
		out = append(out, status.Partition{Topic: tp.topic, Partition: tp.partition, Lag: p.lag.Load(), Committed: p.commitPoint()})
	}
	slices.SortFunc(out, func(a, b status.Partition) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return a.Partition - b.Partition
	})
	return out
}

package worker

import (
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// partitionOffsets tracks the messages fetched from one partition and which
// of them have finished, so that the committed offset is always the end of
// the contiguous run of finished messages: a finished message behind an
// unfinished one is never committed past.
type partitionOffsets struct {
	mu      sync.Mutex
	pending []pendingOffset // fetch order, increasing offsets
	next    int64           // offset to commit: after the last finished contiguous message; -1 none yet
	// drained, if set, is signalled (never blocking) when every fetched
	// message has finished: the commit loop commits soon instead of at its
	// next tick.
	drained chan<- struct{}
	// lag is the records behind the partition's end at the last fetch,
	// for Status.
	lag atomic.Int64
}

type pendingOffset struct {
	offset int64
	done   bool
}

func newPartitionOffsets() *partitionOffsets { return &partitionOffsets{next: -1} }

// startAt sets the commit point before anything finished: the resolved
// offset where a partition without a committed offset begins.
func (p *partitionOffsets) startAt(offset int64) {
	p.mu.Lock()
	if p.next < 0 {
		p.next = offset
	}
	p.mu.Unlock()
}

// add records a fetched message. Offsets must arrive in increasing order.
func (p *partitionOffsets) add(offset int64) {
	p.mu.Lock()
	p.pending = append(p.pending, pendingOffset{offset: offset})
	p.mu.Unlock()
}

// finish marks offset finished and advances the commit point over the
// contiguous finished prefix.
func (p *partitionOffsets) finish(offset int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Binary search: pending is sorted by offset.
	lo, hi := 0, len(p.pending)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if p.pending[m].offset < offset {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(p.pending) || p.pending[lo].offset != offset {
		return
	}
	p.pending[lo].done = true
	i := 0
	for i < len(p.pending) && p.pending[i].done {
		p.next = p.pending[i].offset + 1
		i++
	}
	if i > 0 {
		p.pending = p.pending[i:]
		if len(p.pending) == 0 {
			p.pending = p.pending[:0:0] // let the old array go
			if p.drained != nil {
				select {
				case p.drained <- struct{}{}:
				default:
				}
			}
		}
	}
}

// commitPoint returns the offset to commit (the next one to read), or -1 if
// nothing has finished yet.
func (p *partitionOffsets) commitPoint() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.next
}

// unfinished is how many fetched messages have not finished.
func (p *partitionOffsets) unfinished() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, e := range p.pending {
		if !e.done {
			n++
		}
	}
	return n
}

type topicPartition struct {
	topic     string
	partition int
}

// offsetCommitter is what the committer needs from a generation.
type offsetCommitter interface {
	CommitOffsets(offsets map[string]map[int]int64) error
}

// committer commits the partitions' commit points to the group: only what
// changed since the last successful commit, a failed commit retried at the
// next call. It is used from one goroutine (the generation's).
type committer struct {
	gen       offsetCommitter
	parts     map[topicPartition]*partitionOffsets
	committed map[topicPartition]int64
	last      time.Time // of the last attempt
	metrics   *Metrics
	log       *zap.Logger
}

func newCommitter(gen offsetCommitter, parts map[topicPartition]*partitionOffsets, metrics *Metrics, log *zap.Logger) *committer {
	return &committer{gen: gen, parts: parts, committed: make(map[topicPartition]int64), metrics: metrics, log: log}
}

// commit commits every partition whose commit point moved.
func (c *committer) commit() {
	c.last = time.Now()
	offsets := c.changed()
	if len(offsets) == 0 {
		return
	}
	if err := c.gen.CommitOffsets(offsets); err != nil {
		c.metrics.commits.WithLabelValues("error").Inc()
		c.log.Warn("offset commit failed; will retry", zap.Error(err))
		return
	}
	c.metrics.commits.WithLabelValues("ok").Inc()
	for t, ps := range offsets {
		for p, off := range ps {
			c.committed[topicPartition{t, p}] = off
		}
	}
}

func (c *committer) changed() map[string]map[int]int64 {
	offsets := make(map[string]map[int]int64)
	for tp, p := range c.parts {
		off := p.commitPoint()
		if done, ok := c.committed[tp]; off < 0 || (ok && done == off) {
			continue
		}
		if offsets[tp.topic] == nil {
			offsets[tp.topic] = make(map[int]int64)
		}
		offsets[tp.topic][tp.partition] = off
	}
	return offsets
}

// sinceLast is the time since the last commit attempt.
func (c *committer) sinceLast() time.Duration { return time.Since(c.last) }

// unfinished is how many fetched messages have not finished, over all
// partitions.
func (c *committer) unfinished() int {
	n := 0
	for _, p := range c.parts {
		n += p.unfinished()
	}
	return n
}

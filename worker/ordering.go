package worker

import (
	"sync"
)

// keyed runs jobs so that jobs with the same key run one at a time, in the
// order they were submitted, while jobs with different keys run concurrently.
// It does not bound concurrency: the caller holds a slot per submitted job
// (see Worker.slots) so that running and queued jobs together stay bounded.
//
// Jobs run on a fixed set of runner goroutines, not on a goroutine each: a
// Gigya call grows a fresh goroutine's stack every time (about 5 % of the
// worker's CPU at full speed), a runner's stack stays grown. With as many
// runners as slots, a job never waits for a runner.
type keyed struct {
	mu      sync.Mutex
	queues  map[string][]*job // key → jobs waiting behind the running one
	wg      sync.WaitGroup    // submitted chains not yet run to their end
	run     func(*job)
	heads   chan *job // jobs free to run: none with their key is running
	runners sync.WaitGroup
}

// newKeyed starts runners goroutines that call run; stop ends them.
func newKeyed(runners int, run func(*job)) *keyed {
	k := &keyed{queues: make(map[string][]*job), run: run, heads: make(chan *job, runners)}
	for range runners {
		k.runners.Go(func() {
			for j := range k.heads {
				k.loop(j)
			}
		})
	}
	return k
}

// submit runs j now or queues it behind the running job with the same key.
// A job with an empty key has no ordering constraint.
func (k *keyed) submit(j *job) {
	if j.key != "" {
		k.mu.Lock()
		if q, busy := k.queues[j.key]; busy {
			k.queues[j.key] = append(q, j)
			k.mu.Unlock()
			return
		}
		k.queues[j.key] = nil
		k.mu.Unlock()
	}
	k.wg.Add(1)
	k.heads <- j
}

// stop ends the runners once they are idle. No submit may follow.
func (k *keyed) stop() {
	close(k.heads)
	k.runners.Wait()
}

// loop runs j and then, one by one, the jobs queued behind it.
func (k *keyed) loop(j *job) {
	defer k.wg.Done()
	for j != nil {
		k.run(j)
		if j.key == "" {
			return
		}
		k.mu.Lock()
		q := k.queues[j.key]
		if len(q) == 0 {
			delete(k.queues, j.key)
			j = nil
		} else {
			next := q[0]
			q[0] = nil
			k.queues[j.key] = q[1:]
			j = next
		}
		k.mu.Unlock()
	}
}

// wait blocks until every submitted job has run.
func (k *keyed) wait() { k.wg.Wait() }

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

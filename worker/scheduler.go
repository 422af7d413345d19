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

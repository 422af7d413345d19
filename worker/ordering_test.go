package worker

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestKeyedRunsSameKeyInOrderAndOthersConcurrently(t *testing.T) {
	const keys, perKey = 20, 50
	var mu sync.Mutex
	seen := make(map[string][]int64)
	var running, maxRunning atomic.Int64
	perKeyRunning := make(map[string]*atomic.Int64)
	for k := range keys {
		perKeyRunning[string(rune('a'+k))] = new(atomic.Int64)
	}
	k := newKeyed(64, func(j *job) {
		if n := perKeyRunning[j.key].Add(1); n != 1 {
			t.Errorf("key %s: %d jobs running at once, want 1", j.key, n)
		}
		n := running.Add(1)
		for {
			m := maxRunning.Load()
			if n <= m || maxRunning.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
		mu.Lock()
		seen[j.key] = append(seen[j.key], j.msg.Offset)
		mu.Unlock()
		running.Add(-1)
		perKeyRunning[j.key].Add(-1)
	})
	defer k.stop()
	for i := range perKey {
		for key := range keys {
			j := &job{key: string(rune('a' + key))}
			j.msg.Offset = int64(i)
			k.submit(j)
		}
	}
	k.wait()
	if len(seen) != keys {
		t.Fatalf("%d keys ran jobs, want %d", len(seen), keys)
	}
	for key, offs := range seen {
		if len(offs) != perKey {
			t.Fatalf("key %s ran %d jobs, want %d", key, len(offs), perKey)
		}
		for i, o := range offs {
			if o != int64(i) {
				t.Fatalf("key %s: job %d ran at position %d; order %v", key, o, i, offs)
			}
		}
	}
	if maxRunning.Load() < 2 {
		t.Errorf("at most %d jobs ran at once, want different keys to run concurrently", maxRunning.Load())
	}
	if len(k.queues) != 0 {
		t.Errorf("%d key queues left after all jobs ran, want 0", len(k.queues))
	}
}

func TestKeyedEmptyKeyIsUnordered(t *testing.T) {
	var n atomic.Int64
	release := make(chan struct{})
	k := newKeyed(64, func(j *job) { n.Add(1); <-release })
	defer k.stop()
	for range 5 {
		k.submit(&job{})
	}
	deadline := time.Now().Add(5 * time.Second)
	for n.Load() < 5 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := n.Load(); got != 5 {
		t.Errorf("%d unkeyed jobs running, want all 5 at once", got)
	}
	close(release)
	k.wait()
}

func TestPartitionOffsetsCommitsOnlyContiguousPrefix(t *testing.T) {
	p := newPartitionOffsets()
	if got := p.commitPoint(); got != -1 {
		t.Fatalf("commitPoint with nothing finished = %d, want -1", got)
	}
	// Offsets with a gap (compaction or transaction markers): 10 11 12 15 16.
	for _, o := range []int64{10, 11, 12, 15, 16} {
		p.add(o)
	}
	steps := []struct {
		finish int64
		want   int64
	}{
		{11, -1}, // 10 unfinished: nothing to commit
		{15, -1},
		{10, 12}, // 10, 11 done → next to read is 12
		{99, 12}, // unknown offset: ignored
		{12, 16}, // 12 and 15 done
		{16, 17},
		{16, 17}, // finishing twice changes nothing
	}
	for _, s := range steps {
		p.finish(s.finish)
		if got := p.commitPoint(); got != s.want {
			t.Fatalf("after finish(%d): commitPoint = %d, want %d", s.finish, got, s.want)
		}
	}
	if got := p.unfinished(); got != 0 {
		t.Errorf("unfinished = %d, want 0", got)
	}
}

func TestPartitionOffsetsRandomOrder(t *testing.T) {
	p := newPartitionOffsets()
	const n = 1000
	for i := range n {
		p.add(int64(i))
	}
	order := rand.Perm(n)
	finished := make([]bool, n)
	for _, i := range order {
		p.finish(int64(i))
		finished[i] = true
		want := int64(0)
		for want < n && finished[want] {
			want++
		}
		if want == 0 {
			want = -1
		}
		if got := p.commitPoint(); got != want {
			t.Fatalf("commitPoint = %d, want %d", got, want)
		}
	}
}

func TestOutageOpensOnlyAcrossUsersAndFreezesClock(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Unix(1000, 0).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	var changes []bool
	o := newHealth(4, 2, clock, func(_, to string, _ int) { changes = append(changes, to == StateOutage) })

	for range 10 {
		o.failure("same-user")
	}
	if o.inOutage() {
		t.Fatal("outage opened on one user's failures, want it closed")
	}
	o.success()
	o.failure("a")
	o.failure("b")
	o.failure("a")
	if o.inOutage() {
		t.Fatal("outage opened below the threshold")
	}
	o.failure("b")
	if !o.inOutage() {
		t.Fatal("outage closed after 4 consecutive failures from 2 users, want open")
	}
	frozen := o.Now()
	now.Add(int64(time.Minute))
	if got := o.Now(); !got.Equal(frozen) {
		t.Errorf("backoff clock moved %v during the outage, want it frozen", got.Sub(frozen))
	}
	o.endOutage()
	now.Add(int64(time.Second))
	if got := o.Now().Sub(frozen); got != time.Second {
		t.Errorf("backoff clock advanced %v after the outage, want 1s (the minute of outage excluded)", got)
	}
	if len(changes) != 2 || !changes[0] || changes[1] {
		t.Errorf("state changes = %v, want [true false]", changes)
	}
}

func TestPartitionOffsetsSignalsDrained(t *testing.T) {
	ch := make(chan struct{}, 1)
	p := newPartitionOffsets()
	p.drained = ch
	p.add(1)
	p.add(2)
	p.finish(2)
	select {
	case <-ch:
		t.Fatal("drained signalled with offset 1 unfinished")
	default:
	}
	p.finish(1)
	select {
	case <-ch:
	default:
		t.Fatal("drained not signalled after every fetched offset finished")
	}
	p.add(3)
	p.add(4)
	p.finish(3)
	p.finish(4) // the buffer is free again: one signal, never blocking
	if len(ch) != 1 {
		t.Fatalf("%d signals buffered, want 1", len(ch))
	}
}

func TestOutageReopensOnFirstFailureAfterAProbe(t *testing.T) {
	o := newHealth(10, 3, time.Now, nil)
	for _, u := range []string{"a", "b", "c", "a", "b", "c", "a", "b", "c", "a"} {
		o.failure(u)
	}
	if !o.inOutage() {
		t.Fatal("outage not open after 10 failures from 3 users")
	}
	o.endOutage() // a probe answered
	o.failure("a")
	if !o.inOutage() {
		t.Fatal("the first failure after a probe closed the outage did not reopen it")
	}
	o.endOutage()
	o.success() // a real call succeeded: back to the full threshold
	o.failure("a")
	if o.inOutage() {
		t.Fatal("one failure after a success reopened the outage")
	}
}

package worker

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkKeyedSubmitRun measures the scheduler alone: submit a job and run
// it to completion with a no-op handler. "distinct" is the backlog case (every
// event its own key: one goroutine per job); "hot-key" queues every job
// behind one running job; "unkeyed" skips the map.
func BenchmarkKeyedSubmitRun(b *testing.B) {
	const keys = 4096
	names := make([]string, keys)
	for i := range names {
		names[i] = "_gid_user" + strconv.Itoa(i)
	}
	cases := []struct {
		name string
		key  func(i int) string
	}{
		{"distinct", func(i int) string { return names[i%keys] }},
		{"hot-key", func(int) string { return "_gid_hot" }},
		{"unkeyed", func(int) string { return "" }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var ran atomic.Int64
			k := newKeyed(64, func(*job) { ran.Add(1) })
			defer k.stop()
			jobs := make([]job, keys)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				j := &jobs[i%keys]
				j.key = c.key(i)
				k.submit(j)
				i++
				if i%keys == 0 {
					k.wait() // jobs[] is reused: let this round finish
				}
			}
			k.wait()
			if int(ran.Load()) != i {
				b.Fatalf("ran %d jobs, want %d", ran.Load(), i)
			}
		})
	}
}

// BenchmarkKeyedParallel submits from several goroutines at once, as the
// per-partition fetchers do, while the jobs finish on their own goroutines:
// the scheduler's mutex under contention.
func BenchmarkKeyedParallel(b *testing.B) {
	k := newKeyed(64, func(*job) {})
	defer k.stop()
	var seq atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.Add(1)
			k.submit(&job{key: "_gid_user" + strconv.FormatInt(n%4096, 10)})
		}
	})
	k.wait()
}

// BenchmarkPartitionOffsets measures add and finish of one partition's
// offsets. "in-order" finishes each offset right after adding it; "window"
// keeps a window of unfinished offsets (the concurrency) and finishes them
// out of order, as concurrent Gigya calls do.
func BenchmarkPartitionOffsets(b *testing.B) {
	b.Run("in-order", func(b *testing.B) {
		p := newPartitionOffsets()
		b.ReportAllocs()
		var off int64
		for b.Loop() {
			p.add(off)
			p.finish(off)
			off++
		}
		if got := p.commitPoint(); got != off {
			b.Fatalf("commit point %d, want %d", got, off)
		}
	})
	for _, window := range []int{64, 256} {
		b.Run("window-"+strconv.Itoa(window), func(b *testing.B) {
			p := newPartitionOffsets()
			b.ReportAllocs()
			var off int64
			for b.Loop() {
				p.add(off)
				// Finish the offset window-1 behind, but every other one
				// out of order (the later of a pair first).
				if back := off - int64(window) + 1; back >= 0 {
					if back%2 == 0 {
						p.finish(back + 1)
					} else {
						p.finish(back - 1)
					}
				}
				off++
			}
		})
	}
}

// BenchmarkPartitionOffsetsContended has one goroutine adding (the fetcher)
// and GOMAXPROCS goroutines finishing (the jobs) on the same partition.
func BenchmarkPartitionOffsetsContended(b *testing.B) {
	p := newPartitionOffsets()
	offs := make(chan int64, 1024)
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	wg.Go(func() {
		for i := range b.N {
			p.add(int64(i))
			offs <- int64(i)
		}
		close(offs)
	})
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if off, ok := <-offs; ok {
				p.finish(off)
			}
		}
	})
	wg.Wait()
	for off := range offs {
		p.finish(off)
	}
}

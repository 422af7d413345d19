package worker

import (
	"testing"
	"time"
)

// Skipped records (an aborted transaction, markers, a reset forward) move
// the commit point only after what was fetched before them finished.
func TestPartitionOffsetsSkipInOrder(t *testing.T) {
	p := newPartitionOffsets()
	steps := []struct {
		do   string
		off  int64
		want int64
	}{
		{"skip", 3, 3},   // nothing fetched yet: markers 0..2 skipped
		{"add", 3, 3},    // A at 3
		{"skip", 6, 3},   // B 4, marker 5 skipped: A not finished, stays at 3
		{"skip", 5, 3},   // an older skip point changes nothing
		{"add", 6, 3},    // A2 at 6
		{"finish", 6, 3}, // A2 done, A not
		{"finish", 3, 7}, // A done: over the skip to A2's end
		{"skip", 7, 7},   // nothing new
		{"skip", 9, 9},
	}
	for _, s := range steps {
		switch s.do {
		case "skip":
			p.skip(s.off)
		case "add":
			p.add(s.off)
		case "finish":
			p.finish(s.off)
		}
		if got := p.commitPoint(); got != s.want {
			t.Fatalf("after %s(%d): commitPoint = %d; want %d", s.do, s.off, got, s.want)
		}
	}
	if got := p.unfinished(); got != 0 {
		t.Errorf("unfinished = %d; want 0", got)
	}
}

// Rejoins back off from about a second, doubling, capped at 30s (±20%).
func TestRejoinBackOff(t *testing.T) {
	b := newBackOff()
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	for i, w := range want {
		got := b.NextBackOff()
		if lo, hi := w*8/10, w*12/10; got < lo || got > hi {
			t.Fatalf("backoff %d = %s; want %s ±20%%", i+1, got, w)
		}
	}
}

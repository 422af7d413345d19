package control_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/regnotify/regnotify/worker/control"
	"github.com/regnotify/regnotify/worker/kafkatest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/segmentio/kafka-go.(*connPool).discover"))
}

// follower is one worker's Control, following until the test ends.
type follower struct {
	*control.Control
	cancel context.CancelFunc
	done   chan struct{}
	tr     *kafka.Transport
}

func follow(t *testing.T, kc *kafkatest.Cluster, topic string) *follower {
	t.Helper()
	tr := &kafka.Transport{}
	c, err := control.New(control.Config{Brokers: kc.Brokers, Transport: tr, Topic: topic, MaxWait: 100 * time.Millisecond, Log: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := c.EnsureTopic(ctx); err != nil {
		t.Fatal(err)
	}
	f := &follower{Control: c, cancel: cancel, done: make(chan struct{}), tr: tr}
	go func() { defer close(f.done); _ = c.Follow(ctx, nil) }()
	t.Cleanup(f.stop)
	return f
}

var stopOnce sync.Map

func (f *follower) stop() {
	if _, done := stopOnce.LoadOrStore(f, true); done {
		return
	}
	f.cancel()
	<-f.done
	f.tr.CloseIdleConnections()
}

// eventually polls cond; the 30 s guard only catches a change never seen,
// it is not a latency assertion.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen within 30s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPauseSeenByEveryFollower(t *testing.T) {
	kc := kafkatest.Start(t)
	topic := kc.Topic("control")
	a, b := follow(t, kc, topic), follow(t, kc, topic)
	for _, f := range []*follower{a, b} {
		select {
		case <-f.Ready():
		case <-time.After(30 * time.Second):
			t.Fatal("follower never ready on an empty topic")
		}
	}
	ctx := context.Background()
	if a.Paused("brand-a") || b.Paused("brand-a") {
		t.Fatal("paused before anyone paused it")
	}
	if err := a.SetPaused(ctx, "brand-a", true, "alice"); err != nil {
		t.Fatal(err)
	}
	if !a.Paused("brand-a") {
		t.Error("publisher does not see its own pause at once")
	}
	eventually(t, "pause on the other worker", func() bool { return b.Paused("brand-a") })
	if p, _ := b.Pause("brand-a"); p.By != "alice" {
		t.Errorf("pause by = %q, want alice", p.By)
	}
	if b.Paused("brand-b") {
		t.Error("brand-b paused too, want only brand-a")
	}
	if err := b.SetPaused(ctx, "brand-a", false, "bob"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "resume on the first worker", func() bool { return !a.Paused("brand-a") })

	// State survives: a pause, then a new worker learns it before Ready.
	if err := a.SetPaused(ctx, "brand-b", true, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := a.MarkReplayed(ctx, "dlq", []control.Offset{{Partition: 1, Offset: 7}}, "alice", false); err != nil {
		t.Fatal(err)
	}
	a.stop()
	c := follow(t, kc, topic)
	select {
	case <-c.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("restarted follower never ready")
	}
	tests := []struct {
		name      string
		got, want bool
	}{
		{"brand-b paused", c.Paused("brand-b"), true},
		{"brand-a resumed", c.Paused("brand-a"), false},
		{"dlq/1/7 replayed", c.Replayed("dlq", 1, 7), true},
		{"dlq/1/8 not replayed", c.Replayed("dlq", 1, 8), false},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("after restart, %s: got %t, want %t", tt.name, tt.got, tt.want)
		}
	}
	if got := c.PausedSites(); len(got) != 1 || got[0] != "brand-b" {
		t.Errorf("PausedSites = %v, want [brand-b]", got)
	}
}

func TestTombstoneDeletes(t *testing.T) {
	kc := kafkatest.Start(t)
	topic := kc.Topic("control")
	a, b := follow(t, kc, topic), follow(t, kc, topic)
	ctx := context.Background()
	if err := a.Publish(ctx, "x", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "key on b", func() bool { _, ok := b.Get("x"); return ok })
	if err := a.Publish(ctx, "x", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "tombstone on b", func() bool { _, ok := b.Get("x"); return !ok })
}

func TestNewNeedsBrokers(t *testing.T) {
	if _, err := control.New(control.Config{}); err == nil {
		t.Fatal("New without brokers: got nil error")
	}
}

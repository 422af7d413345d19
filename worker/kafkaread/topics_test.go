package kafkaread_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/regnotify/regnotify/worker/kafkaread"
	"github.com/regnotify/regnotify/worker/kafkatest"
)

// TestTopics: a wanted topic that does not exist is reported missing (and
// asking does not create it, although the broker auto-creates topics on
// request); Watch returns when it is created, and again when an existing
// one is deleted.
func TestTopics(t *testing.T) {
	c := kafkatest.Start(t)
	a, b := c.Topic("exists"), c.Topic("later")
	c.CreateTopics(t, a)
	tp, err := kafkaread.NewTopics(kafkaread.TopicsConfig{Brokers: c.Brokers, Topics: []string{a, b}, Interval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	ctx := ctxT(t, 30*time.Second)

	check := func(when string, st kafkaread.TopicState, wantExisting, wantMissing []string) {
		t.Helper()
		if got := st.Existing(); !slices.Equal(got, wantExisting) || !slices.Equal(st.Missing, wantMissing) {
			t.Fatalf("%s: existing %v missing %v; want existing %v missing %v", when, got, st.Missing, wantExisting, wantMissing)
		}
		for _, name := range wantExisting {
			if st.Partitions[name] != kafkatest.Partitions {
				t.Fatalf("%s: %s has %d partitions; want %d", when, name, st.Partitions[name], kafkatest.Partitions)
			}
		}
	}
	st, err := tp.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	check("at start", st, []string{a}, []string{b})
	time.Sleep(150 * time.Millisecond) // let a metadata refresh happen: still no auto-creation
	if st, err = tp.Check(ctx); err != nil {
		t.Fatal(err)
	}
	check("asked again", st, []string{a}, []string{b})

	// Nothing changes: Watch keeps polling until its context ends.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	if _, err := tp.Watch(short, st); err == nil {
		t.Fatal("Watch returned without a change; want the context's error")
	}
	cancel()

	c.CreateTopics(t, b)
	if st, err = tp.Watch(ctx, st); err != nil {
		t.Fatal(err)
	}
	check("after creating "+b, st, []string{a, b}, nil)

	kafkatest.DeleteTopic(t, c.Client(t), a)
	if st, err = tp.Watch(ctx, st); err != nil {
		t.Fatal(err)
	}
	check("after deleting "+a, st, []string{b}, []string{a})
}

func TestNewTopicsValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  kafkaread.TopicsConfig
	}{
		{"no brokers", kafkaread.TopicsConfig{Topics: []string{"t"}}},
		{"bad broker", kafkaread.TopicsConfig{Brokers: []string{"x"}, Topics: []string{"t"}}},
		{"no topics", kafkaread.TopicsConfig{Brokers: []string{"127.0.0.1:1"}}},
		{"empty topic", kafkaread.TopicsConfig{Brokers: []string{"127.0.0.1:1"}, Topics: []string{""}}},
		{"negative interval", kafkaread.TopicsConfig{Brokers: []string{"127.0.0.1:1"}, Topics: []string{"t"}, Interval: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tp, err := kafkaread.NewTopics(tc.cfg); err == nil {
				tp.Close()
				t.Fatal("NewTopics succeeded; want an error")
			}
		})
	}
}

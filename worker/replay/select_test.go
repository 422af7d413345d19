package replay_test

import (
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/regnotify/regnotify/worker/deadletter"
	"github.com/regnotify/regnotify/worker/replay"
)

func TestDecideSite(t *testing.T) {
	const dlq = "regnotify.dlq"
	rec := dead{topic: "account.linked", class: deadletter.ClassRejected, failedAt: failedAt}.message(dlq)
	withSite := rec
	withSite.Headers = append(append([]kafka.Header(nil), rec.Headers...), kafka.Header{Key: replay.HeaderSite, Value: []byte("brand-a")})
	tests := []struct {
		name  string
		sites []string
		m     kafka.Message
		want  replay.Verdict
	}{
		{"no site filter", nil, rec, replay.Replay},
		{"site match", []string{"brand-b", "brand-a"}, withSite, replay.Replay},
		{"site mismatch", []string{"brand-b"}, withSite, replay.SkipFilter},
		{"no site header", []string{"brand-a"}, rec, replay.SkipFilter},
	}
	for _, tt := range tests {
		if got, _ := (replay.Filter{Sites: tt.sites}).Decide(tt.m, dlq); got != tt.want {
			t.Errorf("%s: Decide = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestPlan(t *testing.T) {
	const dlq = "regnotify.dlq"
	ok := dead{topic: "account.linked", class: deadletter.ClassRejected, failedAt: failedAt, key: "u1"}.message(dlq)
	ok.Offset = 1
	seen := ok
	seen.Offset = 2
	other := dead{topic: "account.linked", class: deadletter.ClassInvalidEvent, failedAt: failedAt}.message(dlq)
	noTopic := dead{class: deadletter.ClassRejected, failedAt: failedAt}.message(dlq)
	looped := dead{topic: "account.linked", class: deadletter.ClassRejected, failedAt: failedAt, count: "3"}.message(dlq)
	f := replay.Filter{Classes: []string{deadletter.ClassRejected}, MaxReplays: 3}
	planned, st := replay.Plan([]kafka.Message{ok, seen, other, noTopic, looped}, f, dlq, func(m kafka.Message) bool { return m.Offset == 2 })
	want := replay.PlanStats{Stats: replay.Stats{Replayed: 1, SkippedByFilter: 1, SkippedByLoopGuard: 1, Unreplayable: 1}, AlreadyReplayed: 1}
	if st != want {
		t.Errorf("Plan stats = %+v, want %+v", st, want)
	}
	if len(planned) != 1 || planned[0].Source.Offset != 1 {
		t.Fatalf("planned = %+v, want the record at offset 1", planned)
	}
	c := planned[0].Copy
	if c.Topic != "account.linked" || string(c.Key) != "u1" {
		t.Errorf("copy topic/key = %s/%s, want account.linked/u1", c.Topic, c.Key)
	}
	if n, _ := deadletter.Header(c.Headers, deadletter.HeaderReplayCount); n != "1" {
		t.Errorf("copy replay count = %q, want 1", n)
	}
	if _, has := deadletter.Header(c.Headers, deadletter.HeaderErrorClass); has {
		t.Error("copy keeps regnotify.error.class, want it dropped")
	}
}

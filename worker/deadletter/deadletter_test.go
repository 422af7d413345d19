package deadletter_test

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/regnotify/regnotify/worker/deadletter"
	"github.com/regnotify/regnotify/worker/kafkaio"
	"github.com/regnotify/regnotify/worker/kafkatest"
)

// A dead-letter record built by Record, written to a broker and read back,
// carries the original record and every header of the contract; Copy of what
// was read goes back to the original topic with the error headers dropped and
// the replay count one more; a record dead-lettered again keeps the count.
func TestRoundTrip(t *testing.T) {
	kc := kafkatest.Start(t)
	dlq := kc.Topic("regnotify.dlq")
	kc.CreateTopics(t, dlq)
	orig := kafka.Message{Topic: "account.linked", Partition: 2, Offset: 41, Key: []byte("_gid_u"), Value: []byte(`{"eventId":"e"}`),
		Time:    time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Headers: []kafka.Header{{Key: "trace", Value: []byte("t-1")}, {Key: deadletter.HeaderReplayCount, Value: []byte("2")}, {Key: deadletter.HeaderErrorClass, Value: []byte("stale")}}}
	f := deadletter.Failure{Class: deadletter.ClassRejected, Code: 409001, Message: "409001 taken", CallID: "c-1", Attempts: 3}
	now := time.Date(2026, 2, 3, 4, 5, 6, 7, time.UTC)
	rec := deadletter.Record(orig, f, "regnotify", now)
	rec.Topic = dlq
	w, err := kafkaio.NewWriter(kafkaio.Kafka{Brokers: kc.Brokers}, kafkaio.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, rec); err != nil {
		t.Fatal(err)
	}
	got := kc.ReadAll(t, dlq)
	if len(got) != 1 {
		t.Fatalf("read back %d records, want 1", len(got))
	}
	back := got[0]
	if string(back.Key) != "_gid_u" || string(back.Value) != `{"eventId":"e"}` {
		t.Errorf("key, value = %q, %q; want the original's", back.Key, back.Value)
	}
	want := map[string]string{
		deadletter.HeaderErrorClass: "rejected", deadletter.HeaderErrorCode: "409001", deadletter.HeaderErrorMessage: "409001 taken",
		deadletter.HeaderOriginalTopic: "account.linked", deadletter.HeaderOriginalPartition: "2", deadletter.HeaderOriginalOffset: "41",
		deadletter.HeaderOriginalTimestamp: "2026-01-02T03:04:05Z", deadletter.HeaderConsumerGroup: "regnotify",
		deadletter.HeaderAttempts: "3", deadletter.HeaderFailedAt: "2026-02-03T04:05:06.000000007Z",
		deadletter.HeaderGigyaCallID: "c-1", deadletter.HeaderReplayCount: "2", "trace": "t-1",
	}
	for k, v := range want {
		if g, ok := deadletter.Header(back.Headers, k); !ok || g != v {
			t.Errorf("header %s = %q (present %v), want %q", k, g, ok, v)
		}
	}
	if n := count(back.Headers, deadletter.HeaderErrorClass); n != 1 {
		t.Errorf("%s appears %d times, want once (the stale one replaced)", deadletter.HeaderErrorClass, n)
	}

	c, err := deadletter.Copy(back)
	if err != nil {
		t.Fatal(err)
	}
	if c.Topic != "account.linked" {
		t.Errorf("copy topic = %q, want the original topic", c.Topic)
	}
	if n, _ := deadletter.ReplayCount(c.Headers); n != 3 || count(c.Headers, deadletter.HeaderReplayCount) != 1 {
		t.Errorf("copy replay count = %d (%d headers), want 3 in one header", n, count(c.Headers, deadletter.HeaderReplayCount))
	}
	for _, h := range c.Headers {
		if len(h.Key) >= len(deadletter.HeaderErrorPrefix) && h.Key[:len(deadletter.HeaderErrorPrefix)] == deadletter.HeaderErrorPrefix {
			t.Errorf("copy kept error header %s", h.Key)
		}
	}
	again := deadletter.Record(c, f, "regnotify", now)
	if n, _ := deadletter.ReplayCount(again.Headers); n != 3 {
		t.Errorf("dead-lettered again: replay count = %d, want 3 (kept)", n)
	}
}

// Stub drops the value, then also the key and original headers, noting it.
func TestStub(t *testing.T) {
	orig := kafka.Message{Topic: "t", Key: []byte("k"), Value: make([]byte, 10), Headers: []kafka.Header{{Key: "trace", Value: []byte("x")}}}
	rec := deadletter.Record(orig, deadletter.Failure{Class: deadletter.ClassInvalidEvent, Message: "bad"}, "g", time.Unix(0, 0))
	for _, tt := range []struct {
		level     int
		wantKey   string
		wantTrace bool
	}{{1, "k", true}, {2, "", false}} {
		s := deadletter.Stub(rec, orig, tt.level)
		_, trace := deadletter.Header(s.Headers, "trace")
		note, _ := deadletter.Header(s.Headers, deadletter.HeaderValueDropped)
		msg, _ := deadletter.Header(s.Headers, deadletter.HeaderErrorMessage)
		if len(s.Value) != 0 || string(s.Key) != tt.wantKey || trace != tt.wantTrace || note == "" || msg != "bad; "+note {
			t.Errorf("level %d: value %d bytes, key %q, trace kept %v, note %q, message %q; want no value, key %q, trace %v, the note in both",
				tt.level, len(s.Value), s.Key, trace, note, msg, tt.wantKey, tt.wantTrace)
		}
	}
}

func TestReplayCountRejectsJunk(t *testing.T) {
	for _, v := range []string{"x", "-1", "1.5"} {
		_, err := deadletter.ReplayCount([]kafka.Header{{Key: deadletter.HeaderReplayCount, Value: []byte(v)}})
		if err == nil {
			t.Errorf("ReplayCount(%q) = nil error, want a CountError", v)
		}
	}
}

func count(hs []kafka.Header, key string) int {
	n := 0
	for _, h := range hs {
		if h.Key == key {
			n++
		}
	}
	return n
}

func TestMain(m *testing.M) { kafkatest.VerifyTestMain(m) }

package worker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/regnotify/regnotify/events"
	"github.com/regnotify/regnotify/gigya"
	"github.com/regnotify/regnotify/worker/deadletter"
	"github.com/regnotify/regnotify/worker/kafkaio"
)

// gigyaFunc is a function-field fake of the Gigya client, for decisions
// that need exact timing; the integration tests use the simulator.
type gigyaFunc struct {
	notify   func(context.Context, gigya.NotifyRequest) (gigya.Response, error)
	userInfo func(context.Context, string) (gigya.UserInfo, error)
}

func (g gigyaFunc) NotifyRegistration(ctx context.Context, r gigya.NotifyRequest) (gigya.Response, error) {
	return g.notify(ctx, r)
}

func (g gigyaFunc) GetUserInfo(ctx context.Context, uid string) (gigya.UserInfo, error) {
	return g.userInfo(ctx, uid)
}

type writerFunc func(context.Context, ...kafka.Message) error

func (f writerFunc) WriteMessages(ctx context.Context, m ...kafka.Message) error { return f(ctx, m...) }

// An event whose retry budget is spent is in flight when Gigya goes down as
// a whole, and its own failure opens the outage: it must wait out the
// outage, not be dead-lettered as retries_exhausted. (A 1 ms budget makes
// the first failure the last one the budget allows.)
func TestBudgetRunningOutAsOutageOpensIsNotExhausted(t *testing.T) {
	var w *Worker
	g := gigyaFunc{notify: func(context.Context, gigya.NotifyRequest) (gigya.Response, error) {
		for _, u := range []string{"a", "b", "c", "a", "b", "c", "a", "b", "c"} {
			w.sites[0].health.failure(u) // other users, one short of the threshold
		}
		return gigya.Response{}, &gigya.Error{Method: "n", Err: errors.New("connection refused")}
	}}
	var err error
	w, err = New(Config{Kafka: kafkaio.Kafka{Brokers: []string{"127.0.0.1:1"}}, RetryInitial: 20 * time.Millisecond,
		RetryMaxInterval: 20 * time.Millisecond, RetryMaxElapsed: time.Millisecond},
		g, writerFunc(func(context.Context, ...kafka.Message) error { return nil }), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	e, err := w.notify(ctx, &job{site: w.sites[0], ev: events.Event{UID: "victim", EventID: "e"}})
	if !w.sites[0].health.inOutage() {
		t.Fatal("the outage did not open: the test did not set up its case")
	}
	if out := e.outcome; out == OutcomeDLQExhausted {
		t.Fatalf("dead-lettered as %s (%s) as the outage opened; want it to wait at the gate", out, e.message)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("notify = %q, %v; want it still waiting for the outage to end (context deadline)", e.outcome, err)
	}
}

// A panic while handling one event becomes a dead letter naming an internal
// error, and the worker goes on.
func TestPanicIsDeadLetteredNotACrash(t *testing.T) {
	var written []kafka.Message
	g := gigyaFunc{notify: func(context.Context, gigya.NotifyRequest) (gigya.Response, error) {
		panic("boom")
	}}
	w, err := New(Config{Kafka: kafkaio.Kafka{Brokers: []string{"127.0.0.1:1"}}}, g,
		writerFunc(func(_ context.Context, m ...kafka.Message) error { written = append(written, m...); return nil }), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	j := &job{site: w.sites[0], msg: kafka.Message{Topic: "user.registered", Offset: 7}, ev: events.Event{EventID: "e", UID: "u", Type: events.UserRegistered}}
	if !w.handleSafely(context.Background(), j) {
		t.Fatal("handleSafely = false, want the event finished (dead-lettered)")
	}
	if len(written) != 1 {
		t.Fatalf("dead letters = %d, want 1", len(written))
	}
	class, _ := deadletter.Header(written[0].Headers, deadletter.HeaderErrorClass)
	msg, _ := deadletter.Header(written[0].Headers, deadletter.HeaderErrorMessage)
	if class != deadletter.ClassRejected || msg != "internal error: boom" {
		t.Errorf("class, message = %q, %q; want rejected, internal error: boom", class, msg)
	}
}

// A dead letter the topic refuses as too large is written without its value,
// then without key and headers, instead of blocking the worker for ever.
func TestTooLargeDeadLetterIsStubbed(t *testing.T) {
	var tries []kafka.Message
	w, err := New(Config{Kafka: kafkaio.Kafka{Brokers: []string{"127.0.0.1:1"}}}, gigyaFunc{},
		writerFunc(func(_ context.Context, m ...kafka.Message) error {
			tries = append(tries, m...)
			if len(tries) < 3 {
				return kafka.WriteErrors{kafka.MessageSizeTooLarge}
			}
			return nil
		}), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := kafka.Message{Topic: "t", Key: []byte("k"), Value: make([]byte, 1000), Headers: []kafka.Header{{Key: "trace", Value: []byte("x")}}}
	if !w.deadLetter(context.Background(), &job{msg: m}, ending{outcome: OutcomeDLQInvalid, message: "too big"}) {
		t.Fatal("deadLetter = false, want written")
	}
	if len(tries) != 3 {
		t.Fatalf("write attempts = %d, want 3 (full, without value, without key and headers)", len(tries))
	}
	if len(tries[1].Value) != 0 || string(tries[1].Key) != "k" {
		t.Errorf("first stub: value %d bytes, key %q; want no value, the key kept", len(tries[1].Value), tries[1].Key)
	}
	last := tries[2]
	if len(last.Key) != 0 {
		t.Errorf("second stub has a key")
	}
	if _, ok := deadletter.Header(last.Headers, "trace"); ok {
		t.Errorf("second stub kept an original header")
	}
	drop, _ := deadletter.Header(last.Headers, deadletter.HeaderValueDropped)
	msg, _ := deadletter.Header(last.Headers, deadletter.HeaderErrorMessage)
	topic, _ := deadletter.Header(last.Headers, deadletter.HeaderOriginalTopic)
	if drop == "" || topic != "t" || len(msg) <= len("too big") {
		t.Errorf("stub headers: dropped %q, original topic %q, message %q; want the drop noted and the origin kept", drop, topic, msg)
	}
}

package worker_test

import (
	"context"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/regnotify/regnotify/events"
	"github.com/regnotify/regnotify/gigya"
	"github.com/regnotify/regnotify/gigya/gigyasim"
	"github.com/regnotify/regnotify/worker"
	"github.com/regnotify/regnotify/worker/kafkaio"
	"github.com/regnotify/regnotify/worker/kafkatest"
)

// BenchmarkWorkerBacklog is the per-event path of the whole worker, in one
// process (run it with -benchtime 50000x: small counts measure the group
// join): b.N events (half user.registered, half account.linked with a
// UIDSig) are produced, then a worker with the run command's production
// settings (1 s commits, signed auth) consumes them from the in-process
// broker against the simulator without latency, until the group's commits
// cover them. ns/op and allocs/op are per event and include the broker and
// the simulator; profile it with -cpuprofile and focus on worker and gigya
// (the bench command, cmd/regnotify-bench, measures the worker alone as a
// separate process).
func BenchmarkWorkerBacklog(b *testing.B) {
	kc := kafkatest.Start(b)
	reg, link, dlq := kc.Topic("user.registered"), kc.Topic("account.linked"), kc.Topic("regnotify.dlq")
	kc.CreateTopics(b, reg, link, dlq)
	secret := testSecret
	sim, err := gigyasim.New(gigyasim.Config{APIKey: "3_bench", UserKey: "bench-user-key", Secret: secret, PartnerSecret: testPartner})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()

	const concurrency = 64
	n := b.N
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		uid := "_gid_bench" + strconv.Itoa(i)
		ev := events.Event{EventID: "bench-" + strconv.Itoa(i), Type: events.UserRegistered, UID: uid}
		topic := reg
		if i%2 == 1 {
			ev.Type, ev.SiteUID, ev.CID, topic = events.AccountLinked, "customer-bench"+strconv.Itoa(i), "bench", link
		}
		v, err := events.Encode(ev)
		if err != nil {
			b.Fatal(err)
		}
		msgs[i] = kafka.Message{Topic: topic, Key: []byte(uid), Value: v}
	}
	kc.Produce(b, msgs...)

	cfg := worker.Config{
		Kafka: kafkaio.Kafka{Brokers: kc.Brokers}, Group: kc.Group("regnotify"),
		Topics: []string{reg, link}, DLQTopic: dlq, Concurrency: concurrency, ShutdownTimeout: 5 * time.Second,
	}
	metrics := worker.NewMetrics()
	client, err := gigya.New(gigya.Options{
		APIKey: "3_bench", BaseURL: srv.URL, Auth: gigya.AuthSigned, UserKey: "bench-user-key",
		Secret: secret, PartnerSecret: testPartner, MaxConns: concurrency, Observe: metrics.ObserveGigya,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	dw, err := worker.NewDeadLetterWriter(cfg.Kafka, dlq)
	if err != nil {
		b.Fatal(err)
	}
	defer dw.Close()
	w, err := worker.New(cfg, client, dw, metrics, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}

	b.ReportAllocs()
	b.ResetTimer()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	kc.WaitCaughtUp(b, 5*time.Minute, cfg.Group, cfg.Topics...)
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	if got := metrics.Snapshot().Events[worker.OutcomeNotified]; got != n {
		b.Fatalf("%d events notified, want %d", got, n)
	}
}

package worker_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/regnotify/regnotify/gigya"
	"github.com/regnotify/regnotify/gigya/gigyasim"
	"github.com/regnotify/regnotify/worker"
	"github.com/regnotify/regnotify/worker/tracing"
	"github.com/regnotify/regnotify/worker/tracing/tracingtest"
)

const (
	parentTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	parentSpan  = "00f067aa0ba902b7"
)

// A record with a traceparent header: the worker's event span is a child of
// it, each Gigya attempt (the first answered 503 by the simulator, the
// second a success) is a child of the event span and sends its own
// traceparent on the request, and an invalid record dead-lettered keeps its
// original traceparent header. Spans go to an in-process OTLP/HTTP receiver
// (tracingtest), standing in for a collector.
func TestEventTraceContinuesFromTheRecord(t *testing.T) {
	h := newHarness(t)
	rcv := tracingtest.NewReceiver(t)
	rcv.Use(t)
	tr, err := tracing.Setup(t.Context(), tracing.Options{Version: "test"})
	if err != nil || tr == nil {
		t.Fatalf("tracing.Setup = %v, %v; want tracing on", tr, err)
	}
	shutdown := sync.OnceFunc(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := tr.Shutdown(ctx); err != nil {
			t.Errorf("tracing shutdown: %v", err)
		}
	})
	t.Cleanup(shutdown)

	// The simulator answers the first call 503 (a load balancer's page),
	// then normally; the server in front records each request's
	// traceparent.
	if err := h.sim.SetSiteFaults(gigyasim.DefaultSiteName, gigyasim.SiteFaults{HTTPStatus: 503}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var sent []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.sim.ServeHTTP(w, r)
		mu.Lock()
		defer mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "notifyRegistration") {
			sent = append(sent, r.Header.Get("traceparent"))
			if len(sent) == 1 {
				_ = h.sim.SetSiteFaults(gigyasim.DefaultSiteName, gigyasim.SiteFaults{})
			}
		}
	}))
	t.Cleanup(srv.Close)
	m := worker.NewMetrics()
	c, err := gigya.New(gigya.Options{
		APIKey: "3_test", BaseURL: srv.URL, Auth: gigya.AuthSigned, UserKey: "test-user-key",
		Secret: testSecret, PartnerSecret: testPartner, RequestTimeout: 10 * time.Second,
		Observe: m.ObserveGigya, TracerProvider: tr.TracerProvider(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)

	header := []kafka.Header{{Key: "traceparent", Value: []byte("00-" + parentTrace + "-" + parentSpan + "-01")}}
	good := h.registeredEvent("traced-1", uidOf(1))
	good.Headers = header
	bad := kafka.Message{Topic: h.reg, Key: []byte("bad"), Value: []byte(`{"eventId":""}`), Headers: header}
	h.kc.Produce(t, good, bad)

	cfg := h.cfg
	cfg.Tracing = tr
	dlq, err := worker.NewDeadLetterWriter(cfg.Kafka, cfg.DLQTopic)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dlq.Close() })
	w, err := worker.New(cfg, c, dlq, m, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	h.waitDone(t, cfg, 30*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("worker Run: %v", err)
	}
	shutdown() // exports what is queued

	dead := h.kc.ReadAll(t, h.dlq)
	if len(dead) != 1 {
		t.Fatalf("dead letters = %d, want 1 (the invalid record)", len(dead))
	}
	if got := dlqHeaders(dead[0])["traceparent"]; got != string(header[0].Value) {
		t.Errorf("dead letter traceparent = %q, want the original %q", got, header[0].Value)
	}

	byID := map[string]tracingtest.Span{}
	var events []tracingtest.Span
	for _, s := range rcv.Spans() {
		byID[s.SpanID] = s
		if s.Name == "process "+h.reg {
			events = append(events, s)
		}
	}
	if len(events) != 2 {
		t.Fatalf("event spans = %d, want 2 (the good and the invalid record); spans: %v", len(events), rcv.Spans())
	}
	var goodSpan tracingtest.Span
	for _, ev := range events {
		if ev.TraceID != parentTrace || ev.ParentSpanID != parentSpan {
			t.Errorf("event span %s: trace %s parent %s, want trace %s parent %s", ev.Name, ev.TraceID, ev.ParentSpanID, parentTrace, parentSpan)
		}
		if ev.Attributes["regnotify.event_id"] == "traced-1" {
			goodSpan = ev
		}
	}
	if goodSpan.SpanID == "" {
		t.Fatalf("no event span with regnotify.event_id traced-1: %v", events)
	}
	if got := goodSpan.Attributes["regnotify.outcome"]; got != worker.OutcomeNotified {
		t.Errorf("event span outcome = %q, want notified", got)
	}
	if got := goodSpan.Attributes["regnotify.attempts"]; got != "2" {
		t.Errorf("event span attempts = %q, want 2", got)
	}
	var attempts []tracingtest.Span
	for _, s := range rcv.Spans() {
		if s.Name == "socialize.notifyRegistration" {
			attempts = append(attempts, s)
		}
	}
	if len(attempts) != 2 {
		t.Fatalf("attempt spans = %d, want 2 (503, then success)", len(attempts))
	}
	mu.Lock()
	defer mu.Unlock()
	for _, a := range attempts {
		if a.ParentSpanID != goodSpan.SpanID || a.TraceID != parentTrace {
			t.Errorf("attempt span %s: parent %s trace %s, want the event span %s in trace %s", a.SpanID, a.ParentSpanID, a.TraceID, goodSpan.SpanID, parentTrace)
		}
		want := "00-" + parentTrace + "-" + a.SpanID + "-01"
		found := false
		for _, tp := range sent {
			found = found || tp == want
		}
		if !found {
			t.Errorf("no request carried traceparent %s (sent: %v)", want, sent)
		}
		if n := a.Attributes["regnotify.attempt"]; n != "1" && n != "2" {
			t.Errorf("attempt span regnotify.attempt = %q, want 1 or 2", n)
		}
	}
	if attempts[0].Attributes["regnotify.attempt"] == attempts[1].Attributes["regnotify.attempt"] {
		t.Errorf("both attempt spans have regnotify.attempt %q, want 1 and 2", attempts[0].Attributes["regnotify.attempt"])
	}
}

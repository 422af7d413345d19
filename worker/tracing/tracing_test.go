package tracing_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/regnotify/regnotify/gigya"
	"github.com/regnotify/regnotify/gigya/gigyasim"
	"github.com/regnotify/regnotify/worker/tracing"
	"github.com/regnotify/regnotify/worker/tracing/tracingtest"
)

const (
	parentTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	parentSpanID  = "00f067aa0ba902b7"
	traceparent   = "00-" + parentTraceID + "-" + parentSpanID + "-01"
	topic         = "registrations"
	group         = "regnotify"
)

// recordingGigya is the simulator behind a real HTTP server that records
// the traceparent header of every request.
type recordingGigya struct {
	sim *gigyasim.Server
	srv *httptest.Server

	mu      sync.Mutex
	parents []string
}

const simAPIKey, simUserKey = "3_tracing", "tracing-user-key"

var simSecret = "dHJhY2luZy1hcHBsaWNhdGlvbi1zZWNyZXQ=" // base64 of a test secret

func newRecordingGigya(t *testing.T) *recordingGigya {
	t.Helper()
	sim, err := gigyasim.New(gigyasim.Config{APIKey: simAPIKey, UserKey: simUserKey, Secret: simSecret})
	if err != nil {
		t.Fatal(err)
	}
	g := &recordingGigya{sim: sim}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.parents = append(g.parents, r.Header.Get("traceparent"))
		g.mu.Unlock()
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *recordingGigya) client(t *testing.T, tp *tracing.Tracing) *gigya.Client {
	t.Helper()
	c, err := gigya.New(gigya.Options{
		APIKey: simAPIKey, BaseURL: g.srv.URL, Auth: gigya.AuthSecret, UserKey: simUserKey, Secret: simSecret,
		Transport: g.srv.Client().Transport, RequestTimeout: 10 * time.Second,
		TracerProvider: tp.TracerProvider(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func (g *recordingGigya) traceparents() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.parents...)
}

// processEvent is what the worker does with one record: the event span,
// a failed attempt during an outage, a wait, and a successful retry.
func processEvent(t *testing.T, tr *tracing.Tracing, g *recordingGigya, c *gigya.Client, m *kafka.Message) {
	t.Helper()
	ctx, ev := tr.StartEvent(t.Context(), m, group)
	ev.Describe("site-a", "fast", "e-1")
	if err := g.sim.SetFaults(gigyasim.Faults{Outage: gigyasim.OutageError}); err != nil {
		t.Fatal(err)
	}
	_, err := c.NotifyRegistration(gigya.WithAttempt(ctx, 1), gigya.NotifyRequest{UID: "u-1", Context: "e-1"})
	var ge *gigya.Error
	if !errors.As(err, &ge) || ge.Code != 500001 {
		t.Fatalf("attempt 1 during the outage: err = %v, want *gigya.Error 500001", err)
	}
	w := tracing.StartWait(ctx, "outage")
	if err := g.sim.SetFaults(gigyasim.Faults{}); err != nil {
		t.Fatal(err)
	}
	w.End()
	if _, err := c.NotifyRegistration(gigya.WithAttempt(ctx, 2), gigya.NotifyRequest{UID: "u-1", Context: "e-1"}); err != nil {
		t.Fatalf("attempt 2: %v", err)
	}
	ev.End("notified", 2)
}

func TestEventTrace(t *testing.T) {
	tests := []struct {
		name    string
		headers []kafka.Header
		// wantParent: the event span continues the header's trace.
		wantParent bool
	}{
		{"traceparent header", []kafka.Header{{Key: "traceparent", Value: []byte(traceparent)}, {Key: "tracestate", Value: []byte("vendor=1")}}, true},
		{"no traceparent", []kafka.Header{{Key: "eventType", Value: []byte("registration")}}, false},
		{"invalid traceparent", []kafka.Header{{Key: "traceparent", Value: []byte("00-zz-yy-01")}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := tracingtest.NewReceiver(t)
			rcv.Use(t)
			t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test")
			tr, err := tracing.Setup(t.Context(), tracing.Options{Version: "1.2.3"})
			if err != nil || tr == nil {
				t.Fatalf("Setup = %v, %v; want tracing on", tr, err)
			}
			g := newRecordingGigya(t)
			m := &kafka.Message{Topic: topic, Partition: 3, Offset: 42, Headers: tt.headers}
			processEvent(t, tr, g, g.client(t, tr), m)
			if err := tr.Shutdown(t.Context()); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			checkTrace(t, rcv.Spans(), g.traceparents(), tt.wantParent)
			if got := tr.Dropped(); got != 0 {
				t.Errorf("Dropped = %d, want 0", got)
			}
		})
	}
}

// checkTrace checks the spans of processEvent: one event span, two attempt
// spans under it (each one's traceparent sent to Gigya), one wait span.
func checkTrace(t *testing.T, spans []tracingtest.Span, sent []string, wantParent bool) {
	t.Helper()
	byName := map[string][]tracingtest.Span{}
	for _, s := range spans {
		byName[s.Name] = append(byName[s.Name], s)
	}
	if len(spans) != 4 || len(byName["process "+topic]) != 1 || len(byName["socialize.notifyRegistration"]) != 2 || len(byName["wait outage"]) != 1 {
		t.Fatalf("spans = %v, want process %s, 2 × socialize.notifyRegistration, wait outage", names(spans), topic)
	}
	ev := byName["process "+topic][0]
	traceID := ev.TraceID
	if wantParent {
		if traceID != parentTraceID || ev.ParentSpanID != parentSpanID {
			t.Errorf("event span trace %s parent %s, want trace %s parent %s", traceID, ev.ParentSpanID, parentTraceID, parentSpanID)
		}
		if ev.TraceState != "vendor=1" {
			t.Errorf("event span tracestate = %q, want vendor=1", ev.TraceState)
		}
	} else if traceID == parentTraceID || ev.ParentSpanID != "" || strings.Trim(traceID, "0") == "" {
		t.Errorf("event span trace %s parent %s, want a new trace without parent", traceID, ev.ParentSpanID)
	}
	if ev.Kind != tracepb.Span_SPAN_KIND_CONSUMER {
		t.Errorf("event span kind = %v, want consumer", ev.Kind)
	}
	wantAttrs(t, "event span", ev.Attributes, map[string]string{
		"messaging.system": "kafka", "messaging.destination.name": topic, "messaging.destination.partition.id": "3",
		"messaging.kafka.offset": "42", "messaging.consumer.group.name": group, "messaging.operation.type": "process",
		"regnotify.site": "site-a", "regnotify.lane": "fast", "regnotify.event_id": "e-1",
		"regnotify.outcome": "notified", "regnotify.attempts": "2",
	})
	wantAttrs(t, "resource", ev.Resource, map[string]string{
		"service.name": "regnotify", "service.version": "1.2.3", "deployment.environment.name": "test",
	})
	wantAttrs(t, "wait span", byName["wait outage"][0].Attributes, nil)
	if w := byName["wait outage"][0]; w.ParentSpanID != ev.SpanID {
		t.Errorf("wait span parent %s, want the event span %s", w.ParentSpanID, ev.SpanID)
	}
	if len(sent) != 2 {
		t.Fatalf("Gigya got %d requests, want 2", len(sent))
	}
	for _, a := range byName["socialize.notifyRegistration"] {
		checkAttempt(t, a, ev, traceID, sent)
	}
}

// checkAttempt checks one attempt span: its parent, attributes, and that
// Gigya received its traceparent.
func checkAttempt(t *testing.T, a, ev tracingtest.Span, traceID string, sent []string) {
	t.Helper()
	attrs := a.Attributes
	if a.Kind != tracepb.Span_SPAN_KIND_CLIENT || a.ParentSpanID != ev.SpanID {
		t.Errorf("attempt %s: kind %v parent %s, want client under the event span %s", attrs["regnotify.attempt"], a.Kind, a.ParentSpanID, ev.SpanID)
	}
	want := map[string]string{"rpc.method": "socialize.notifyRegistration", "http.request.method": "POST", "server.address": "127.0.0.1"}
	switch attrs["regnotify.attempt"] {
	case "1":
		want["gigya.error_code"], want["error.type"] = "500001", "500001"
	case "2":
		want["gigya.error_code"] = "0"
		if attrs["gigya.call_id"] == "" {
			t.Errorf("attempt 2: no gigya.call_id")
		}
	default:
		t.Errorf("attempt span regnotify.attempt = %q, want 1 or 2", attrs["regnotify.attempt"])
	}
	wantAttrs(t, "attempt "+attrs["regnotify.attempt"], attrs, want)
	tp := "00-" + traceID + "-" + a.SpanID + "-01"
	found := false
	for _, s := range sent {
		found = found || s == tp
	}
	if !found {
		t.Errorf("attempt %s: Gigya got traceparents %q, want one of them %q", attrs["regnotify.attempt"], sent, tp)
	}
}

func wantAttrs(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got[k], v)
		}
	}
}

func names(spans []tracingtest.Span) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Name
	}
	return out
}

func TestEnabled(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"nothing set", nil, false},
		{"endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, true},
		{"exporter otlp", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true},
		{"exporter console", map[string]string{"OTEL_TRACES_EXPORTER": "console"}, true},
		{"exporter none beats endpoint", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, false},
		{"traces endpoint alone", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318"}, false},
		{"sampler alone", map[string]string{"OTEL_TRACES_SAMPLER": "always_on"}, false},
		{"SDK disabled", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			if got := tracing.Enabled(); got != tt.want {
				t.Errorf("Enabled() = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestOff: without the switching variables nothing is exported and Gigya
// gets no traceparent, even with the rest of the configuration present.
func TestOff(t *testing.T) {
	rcv := tracingtest.NewReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", rcv.URL()+"/v1/traces")
	t.Setenv("OTEL_TRACES_SAMPLER", "always_on")
	tr, err := tracing.Setup(t.Context(), tracing.Options{Version: "1.2.3"})
	if err != nil || tr != nil {
		t.Fatalf("Setup = %v, %v; want nil, nil (off)", tr, err)
	}
	g := newRecordingGigya(t)
	m := &kafka.Message{Topic: topic, Headers: []kafka.Header{{Key: "traceparent", Value: []byte(traceparent)}}}
	processEvent(t, tr, g, g.client(t, tr), m)
	if err := tr.Shutdown(t.Context()); err != nil {
		t.Errorf("Shutdown of off tracing: %v", err)
	}
	if n := rcv.Requests(); n != 0 {
		t.Errorf("receiver got %d requests, want 0", n)
	}
	for _, p := range g.traceparents() {
		if p != "" {
			t.Errorf("Gigya got traceparent %q with tracing off, want none", p)
		}
	}
	if got := testutil.ToFloat64(tr.Collector()); got != 0 {
		t.Errorf("dropped metric = %v, want 0", got)
	}
}

func TestSetupErrors(t *testing.T) {
	tests := []struct {
		name, key, value, wantErr string
	}{
		{"unknown exporter", "OTEL_TRACES_EXPORTER", "zipkin", "OTEL_TRACES_EXPORTER"},
		{"list of exporters", "OTEL_TRACES_EXPORTER", "otlp,console", "OTEL_TRACES_EXPORTER"},
		{"http/json", "OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{"queue size", "OTEL_BSP_MAX_QUEUE_SIZE", "many", "OTEL_BSP_MAX_QUEUE_SIZE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
			t.Setenv(tt.key, tt.value)
			tr, err := tracing.Setup(t.Context(), tracing.Options{})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				_ = tr.Shutdown(t.Context())
				t.Fatalf("Setup with %s=%s: err = %v, want one naming %s", tt.key, tt.value, err, tt.wantErr)
			}
		})
	}
}

// TestConsole: OTEL_TRACES_EXPORTER=console prints the spans to Stdout.
func TestConsole(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "console")
	var out bytes.Buffer
	tr, err := tracing.Setup(t.Context(), tracing.Options{Version: "1.2.3", Stdout: &out})
	if err != nil || tr == nil {
		t.Fatalf("Setup = %v, %v; want tracing on", tr, err)
	}
	m := &kafka.Message{Topic: topic, Headers: []kafka.Header{{Key: "traceparent", Value: []byte(traceparent)}}}
	_, ev := tr.StartEvent(t.Context(), m, group)
	ev.End("notified", 1)
	if err := tr.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"Name": "process ` + topic + `"`, parentTraceID, `"regnotify.outcome"`, `"regnotify"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("console output lacks %s:\n%s", want, out.String())
		}
	}
}

// TestHangingCollector: with a collector that never answers, ending spans
// does not wait for it, what does not fit in the queue is dropped and
// counted, and Shutdown returns at its context's deadline; afterwards every
// span is accounted for as dropped.
func TestHangingCollector(t *testing.T) {
	rcv := tracingtest.NewHangingReceiver(t)
	rcv.Use(t)
	t.Setenv("OTEL_BSP_MAX_QUEUE_SIZE", "4")
	t.Setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "2")
	t.Setenv("OTEL_BSP_EXPORT_TIMEOUT", "600000") // the collector's hang, not a timeout, must be survived
	t.Setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "600000")
	tr, err := tracing.Setup(t.Context(), tracing.Options{})
	if err != nil || tr == nil {
		t.Fatalf("Setup = %v, %v; want tracing on", tr, err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(tr.Collector())

	const events = 100
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range events {
			m := &kafka.Message{Topic: topic, Offset: int64(i)}
			_, ev := tr.StartEvent(context.Background(), m, group)
			ev.End("notified", 1)
		}
	}()
	select {
	case <-done:
	case <-time.After(time.Minute): // failure guard only
		t.Fatal("ending spans blocked on the hanging collector")
	}
	// At most the queue (4) plus one batch taken by the hanging export (2)
	// are held; the rest were refused at once.
	if got := tr.Dropped(); got < events-6 || got > events {
		t.Errorf("Dropped after %d spans = %d, want between %d and %d", events, got, events-6, events)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := tr.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown with a hanging collector = %v, want context.DeadlineExceeded", err)
	}
	// The cancelled export and the drained queue end up dropped too.
	deadline := time.Now().Add(time.Minute) // failure guard only
	for tr.Dropped() != events && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := testutil.ToFloat64(tr.Collector()); got != events {
		t.Errorf("regnotify_trace_spans_dropped_total = %v, want %d", got, events)
	}
	if n, err := testutil.GatherAndCount(reg, "regnotify_trace_spans_dropped_total"); err != nil || n != 1 {
		t.Errorf("registry has %d regnotify_trace_spans_dropped_total (%v), want 1", n, err)
	}
}

func TestHeadersCarrier(t *testing.T) {
	hs := []kafka.Header{{Key: "traceparent", Value: []byte("old")}, {Key: "k", Value: []byte("v")}, {Key: "traceparent", Value: []byte("new")}}
	h := tracing.Headers{H: &hs}
	if got := h.Get("traceparent"); got != "new" {
		t.Errorf("Get = %q, want the last header, new", got)
	}
	if got := h.Get("missing"); got != "" {
		t.Errorf("Get(missing) = %q, want empty", got)
	}
	h.Set("traceparent", "set")
	if len(hs) != 2 || h.Get("traceparent") != "set" || string(hs[0].Value) != "v" {
		t.Errorf("after Set: %q, want k=v then traceparent=set", hs)
	}
	if got := strings.Join(h.Keys(), ","); got != "k,traceparent" {
		t.Errorf("Keys = %s, want k,traceparent", got)
	}
}

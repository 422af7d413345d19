// Package tracingtest is test support for code traced with worker/tracing:
// an in-process OTLP/HTTP trace receiver, an httptest server speaking the
// documented protocol (POST /v1/traces, application/x-protobuf
// ExportTraceServiceRequest), standing in for an OpenTelemetry collector,
// which cannot run in tests. It is not a collector and keeps every span in
// memory.
package tracingtest

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Span is one exported span, its ids in lowercase hex.
type Span struct {
	Name         string
	TraceID      string
	SpanID       string
	ParentSpanID string // "" for a root span
	TraceState   string
	Kind         tracepb.Span_SpanKind
	Attributes   map[string]string
	Resource     map[string]string // the attributes of the span's resource
}

// Receiver is the in-process OTLP/HTTP receiver.
type Receiver struct {
	srv     *httptest.Server
	hang    bool
	release chan struct{} // closed at the end of the test: no handler outlives it

	mu       sync.Mutex
	spans    []Span
	requests int
}

// NewReceiver starts a receiver, closed when the test ends.
func NewReceiver(t testing.TB) *Receiver { return newReceiver(t, false) }

// NewHangingReceiver starts a receiver like a dead collector: every export
// request waits until the client gives up (its context ends) or the test
// ends, and no span is kept.
func NewHangingReceiver(t testing.TB) *Receiver { return newReceiver(t, true) }

func newReceiver(t testing.TB, hang bool) *Receiver {
	t.Helper()
	r := &Receiver{hang: hang, release: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	t.Cleanup(func() { close(r.release) }) // runs before Close
	return r
}

// Use points the standard OTEL_* variables at r for the test, with a 20 ms
// batch schedule so that spans arrive quickly.
func (r *Receiver) Use(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", r.srv.URL)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "20")
}

// URL is the receiver's base URL (the OTLP endpoint).
func (r *Receiver) URL() string { return r.srv.URL }

// Spans returns the spans received so far.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// Requests is the number of requests the receiver got, well-formed or not.
func (r *Receiver) Requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.requests++
	r.mu.Unlock()
	if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" {
		http.Error(w, "want POST /v1/traces", http.StatusNotFound)
		return
	}
	if r.hang {
		// Read the body first: only then does the server notice that the
		// client went away and cancel the request's context.
		_, _ = io.Copy(io.Discard, req.Body)
		select {
		case <-req.Context().Done():
		case <-r.release:
		}
		return
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		http.Error(w, "want application/x-protobuf, got "+ct, http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var msg coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	for _, rs := range msg.GetResourceSpans() {
		res := attrMap(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				r.spans = append(r.spans, Span{
					Name: s.GetName(), TraceID: hex.EncodeToString(s.GetTraceId()), SpanID: hex.EncodeToString(s.GetSpanId()),
					ParentSpanID: hex.EncodeToString(s.GetParentSpanId()), TraceState: s.GetTraceState(), Kind: s.GetKind(),
					Attributes: attrMap(s.GetAttributes()), Resource: res,
				})
			}
		}
	}
	r.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// attrMap renders OTLP attributes as strings, ints in decimal.
func attrMap(kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		switch v := kv.GetValue().GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.GetKey()] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.GetKey()] = strconv.FormatInt(v.IntValue, 10)
		case *commonpb.AnyValue_BoolValue:
			m[kv.GetKey()] = strconv.FormatBool(v.BoolValue)
		default:
			m[kv.GetKey()] = kv.GetValue().String()
		}
	}
	return m
}

package tracing_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/regnotify/regnotify/gigya"
	"github.com/regnotify/regnotify/worker/tracing"
)

// BenchmarkEventSpan is the tracing cost on the event path: the event span
// started from a record with a traceparent header, described, one attempt
// marked and a wait span, ended; with tracing off, and on (exporting to an
// in-process OTLP/HTTP sink) with 100 % and 10 % sampling. Compare ns/op and
// allocs/op as ratios against off; dropped/op says how many spans the
// bounded queue refused (those are cheaper than exported ones).
func BenchmarkEventSpan(b *testing.B) {
	cases := []struct {
		name string
		env  map[string]string
		on   bool
	}{
		{"off", nil, false},
		{"on-sampled-100%", map[string]string{"OTEL_TRACES_SAMPLER": "always_on"}, true},
		{"on-sampled-10%", map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}, true},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if c.on {
				// A collector that reads and discards: its decoding is not
				// the worker's cost.
				sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.Copy(io.Discard, r.Body)
					w.Header().Set("Content-Type", "application/x-protobuf")
				}))
				defer sink.Close()
				b.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.URL)
			}
			for k, v := range c.env {
				b.Setenv(k, v)
			}
			tr, err := tracing.Setup(context.Background(), tracing.Options{Version: "bench"})
			if err != nil || (tr != nil) != c.on {
				b.Fatalf("Setup = %v, %v; want on = %v", tr, err, c.on)
			}
			// A record from an unsampled producer: the sampler decides.
			m := &kafka.Message{Topic: topic, Partition: 1, Offset: 7,
				Headers: []kafka.Header{{Key: "traceparent", Value: []byte("00-" + parentTraceID + "-" + parentSpanID + "-00")}}}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				ectx, ev := tr.StartEvent(ctx, m, group)
				ev.Describe("site-a", "fast", "e-1")
				_ = gigya.WithAttempt(ectx, 1)
				tracing.StartWait(ectx, "quota").End()
				ev.End("notified", 1)
			}
			b.StopTimer()
			b.ReportMetric(float64(tr.Dropped())/float64(b.N), "dropped/op")
			if err := tr.Shutdown(context.Background()); err != nil {
				b.Fatal(err)
			}
		})
	}
}

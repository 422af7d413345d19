package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/regnotify/regnotify/gigya/gigyasim"
)

// otlpSink is an in-process OTLP/HTTP trace receiver (an httptest server
// speaking the documented protocol: POST /v1/traces with a protobuf
// ExportTraceServiceRequest), standing in for a collector: it counts the
// spans and keeps nothing.
type otlpSink struct {
	srv   *httptest.Server
	spans atomic.Int64
}

func newOTLPSink() *otlpSink {
	s := &otlpSink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(body, &req)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, rs := range req.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				s.spans.Add(int64(len(ss.GetSpans())))
			}
		}
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	return s
}

// tracingCost (issue 16): the worker's CPU per event at zero latency with
// tracing off, and on with every event sampled and with a tenth sampled,
// exporting over OTLP/HTTP to an in-process sink; as ratios to off.
func (b *bench) tracingCost(ctx context.Context) (*result, error) {
	const name = "tracing-cost"
	sink := newOTLPSink()
	defer sink.srv.Close()
	variants := []struct {
		label string
		env   []string
	}{
		{"off", nil},
		{"on 100 %", []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + sink.srv.URL, "OTEL_TRACES_SAMPLER=always_on", "OTEL_BSP_SCHEDULE_DELAY=200"}},
		{"on 10 %", []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + sink.srv.URL, "OTEL_TRACES_SAMPLER=traceidratio", "OTEL_TRACES_SAMPLER_ARG=0.1", "OTEL_BSP_SCHEDULE_DELAY=200"}},
	}
	n := b.cfg.tracingEvents
	perEvent := make([]float64, len(variants))
	var spans []int64
	var offPerSec float64
	for i, v := range variants {
		before := sink.spans.Load()
		var runs []float64
		for range max(1, b.cfg.zeroRuns) {
			o := b.workerOptions(b.cfg.zeroConcurrency, 0)
			o.ExtraEnv = v.env
			r, err := b.runWorkerWith(ctx, name, n, gigyasim.Faults{}, o)
			if err != nil {
				return nil, err
			}
			runs = append(runs, float64(r.cpu.Microseconds())/float64(r.events))
			if i == 0 {
				offPerSec = max(offPerSec, r.perSec())
			}
		}
		slices.SortFunc(runs, cmp.Compare)
		perEvent[i] = runs[len(runs)/2]
		spans = append(spans, sink.spans.Load()-before)
		b.logf("%s: tracing %s: CPU %.1f µs/event (runs %v), %d spans exported", name, v.label, perEvent[i], runs, spans[i])
	}
	res := newResult(name, n, offPerSec)
	res.add("cpu_us_per_event_off", round(perEvent[0], 1))
	res.add("cpu_us_per_event_on_100", round(perEvent[1], 1))
	res.add("cpu_us_per_event_on_10", round(perEvent[2], 1))
	res.add("ratio_on_100", round(perEvent[1]/perEvent[0], 2))
	res.add("ratio_on_10", round(perEvent[2]/perEvent[0], 2))
	res.add("spans_exported_100", spans[1])
	res.add("spans_exported_10", spans[2])
	res.summary = fmt.Sprintf("zero-latency CPU per event: off %.1f µs; on 100 %% %.1f µs (%.2f×, %d spans); on 10 %% %.1f µs (%.2f×, %d spans)",
		perEvent[0], perEvent[1], perEvent[1]/perEvent[0], spans[1], perEvent[2], perEvent[2]/perEvent[0], spans[2])
	if spans[1] == 0 {
		// This regnotify does not trace (tracing.Setup not wired into
		// run): the "on" runs measured nothing.
		res.summary += "; NO SPANS EXPORTED: this regnotify run does not trace"
	}
	return res, nil
}

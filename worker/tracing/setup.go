package tracing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// ServiceName is the service.name of regnotify's spans unless
// OTEL_SERVICE_NAME (or service.name in OTEL_RESOURCE_ATTRIBUTES) says
// otherwise.
const ServiceName = "regnotify"

// scope is the instrumentation scope of the worker's spans.
const scope = "github.com/regnotify/regnotify/worker"

// defaultMaxQueueSize is the SDK's default for OTEL_BSP_MAX_QUEUE_SIZE.
const defaultMaxQueueSize = sdktrace.DefaultMaxQueueSize

// Options configure [Setup]. Everything else comes from the standard OTEL_*
// variables of the process environment, which the OpenTelemetry exporters,
// sampler and batch processor read themselves.
type Options struct {
	// Version is the binary's version, recorded as service.version.
	Version string
	// Stdout receives the spans when OTEL_TRACES_EXPORTER=console
	// (default os.Stdout).
	Stdout io.Writer
}

// Tracing is the configured tracer provider, or nothing when tracing is
// off. A nil *Tracing is valid and means off: every method then does nothing.
type Tracing struct {
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	count  *counter
}

// Enabled reports whether tracing is on: [Setup] found
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_TRACES_EXPORTER (other than none) and
// OTEL_SDK_DISABLED is not true.
func Enabled() bool {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	exp := strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER"))
	if exp == "none" {
		return false
	}
	return exp != "" || os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != ""
}

// Setup configures tracing from the environment. When tracing is off
// ([Enabled] is false) it returns a nil *Tracing and no error, which costs
// nothing beyond a nil check in every helper. Its errors name the offending
// variable; they are configuration errors. It does not contact the
// collector.
func Setup(ctx context.Context, o Options) (*Tracing, error) {
	if !Enabled() {
		return nil, nil
	}
	exp, err := newExporter(ctx, o.Stdout)
	if err != nil {
		return nil, fmt.Errorf("setup tracing: %w", err)
	}
	queue, err := envInt("OTEL_BSP_MAX_QUEUE_SIZE", defaultMaxQueueSize)
	if err != nil {
		return nil, fmt.Errorf("setup tracing: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(semconv.ServiceName(ServiceName), semconv.ServiceVersion(o.Version)),
		// Last, so that OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win.
		resource.WithFromEnv(),
	)
	if err != nil {
		return nil, fmt.Errorf("setup tracing: OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	c := &counter{max: int64(queue)}
	// The batch processor's own OTEL_BSP_* settings apply; its queue is
	// never full because c refuses spans before it would be (see counter).
	bsp := sdktrace.NewBatchSpanProcessor(c.wrap(exp), sdktrace.WithMaxQueueSize(queue))
	// The sampler comes from OTEL_TRACES_SAMPLER(_ARG), read by the SDK.
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSpanProcessor(c.front(bsp)))
	return &Tracing{
		tp:     tp,
		tracer: tp.Tracer(scope),
		prop:   propagation.TraceContext{},
		count:  c,
	}, nil
}

// newExporter makes the exporter that OTEL_TRACES_EXPORTER names: otlp (the
// default) over OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL, or console.
func newExporter(ctx context.Context, stdout io.Writer) (sdktrace.SpanExporter, error) {
	switch exp := strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER")); exp {
	case "", "otlp":
	case "console":
		if stdout == nil {
			stdout = os.Stdout
		}
		return stdouttrace.New(stdouttrace.WithWriter(stdout), stdouttrace.WithPrettyPrint())
	default:
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: want otlp, console or none", exp)
	}
	proto := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if proto == "" {
		proto = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch proto {
	case "", "http/protobuf":
		return otlptracehttp.New(ctx)
	case "grpc":
		return otlptracegrpc.New(ctx)
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%q: want http/protobuf or grpc", proto)
	}
}

// envInt reads a positive integer variable, def when unset.
func envInt(name string, def int) (int, error) {
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive integer", name, v)
	}
	return n, nil
}

// TracerProvider is the provider for other packages' spans
// (gigya.Options.TracerProvider); nil when tracing is off, so that they
// skip tracing entirely.
func (t *Tracing) TracerProvider() trace.TracerProvider {
	if t == nil {
		return nil
	}
	return t.tp
}

// Shutdown exports what is queued and stops the exporter. It returns when
// ctx is done at the latest (the worker's shutdown is bounded); what was
// not exported by then is abandoned and counted as dropped, and an export
// still waiting for the collector is cancelled, so that nothing outlives
// the process's shutdown by more than the exporter's own unwinding.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	err := t.tp.Shutdown(ctx)
	t.count.abort()
	if err != nil {
		return fmt.Errorf("shutdown tracing: %w", err)
	}
	return nil
}

// Dropped is the number of sampled spans that were not exported: refused
// because the queue was full, or lost in a failed export.
func (t *Tracing) Dropped() uint64 {
	if t == nil {
		return 0
	}
	return uint64(t.count.dropped.Load())
}

// Collector is regnotify_trace_spans_dropped_total, [Tracing.Dropped] as a
// Prometheus counter, for the worker's registry. It is valid (always 0)
// when tracing is off, so that the metric exists either way.
func (t *Tracing) Collector() prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "regnotify_trace_spans_dropped_total",
		Help: "Sampled trace spans not exported: the export queue was full or the export failed.",
	}, func() float64 { return float64(t.Dropped()) })
}

// errAborted fails exports after Shutdown gave up waiting.
var errAborted = errors.New("tracing shut down before the export")

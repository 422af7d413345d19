// Package tracing is regnotify's OpenTelemetry tracing: it sets up the SDK
// from the standard OTEL_* environment variables ([Setup]), continues a
// trace from a Kafka record's W3C traceparent/tracestate headers, and makes
// the spans the worker needs: one consumer span per event ([Tracing.StartEvent],
// `process <topic>`) and spans for the time an event waits for an outage or
// for quota ([StartWait]). The per-attempt client spans of Gigya calls are
// made inside package gigya (gigya.Options.TracerProvider).
//
// Tracing is off unless OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_TRACES_EXPORTER
// is set; then every helper is a nil check and nothing else. When on, spans
// go through a bounded queue to a batch exporter: ending a span never waits
// for the collector, and a span that does not fit in the queue or whose
// export fails is dropped and counted (regnotify_trace_spans_dropped_total).
//
// What the package is not: it does not decide anything about events (the
// outcome and attempt count are the worker's and are only recorded here), it
// does not trace metrics or logs, and it does not touch HTTP to Gigya.
package tracing

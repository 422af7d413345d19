package tracing

import (
	"context"
	"strconv"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Attribute keys of the event span that are regnotify's own.
const (
	AttrSite     = attribute.Key("regnotify.site")
	AttrLane     = attribute.Key("regnotify.lane")
	AttrOutcome  = attribute.Key("regnotify.outcome")
	AttrEventID  = attribute.Key("regnotify.event_id")
	AttrAttempts = attribute.Key("regnotify.attempts")
)

// Headers is a propagation.TextMapCarrier over a Kafka record's headers.
// Get returns the last header of that name (a re-published record may carry
// an older copy first); Set replaces every header of that name.
type Headers struct{ H *[]kafka.Header }

// Get returns the value of the last header named key, or "".
func (h Headers) Get(key string) string {
	hs := *h.H
	for i := len(hs) - 1; i >= 0; i-- {
		if hs[i].Key == key {
			return string(hs[i].Value)
		}
	}
	return ""
}

// Set sets the header key to value, replacing any of the same name.
func (h Headers) Set(key, value string) {
	hs := (*h.H)[:0:0]
	for _, x := range *h.H {
		if x.Key != key {
			hs = append(hs, x)
		}
	}
	*h.H = append(hs, kafka.Header{Key: key, Value: []byte(value)})
}

// Keys lists the header names.
func (h Headers) Keys() []string {
	keys := make([]string, 0, len(*h.H))
	for _, x := range *h.H {
		keys = append(keys, x.Key)
	}
	return keys
}

// Event is the span of one event. The zero Event (tracing off) does
// nothing.
type Event struct{ span trace.Span }

// StartEvent starts the span `process <topic>` for the record m, consumed
// by group, as a child of the record's traceparent/tracestate headers, or
// as a new trace when it has none (or an invalid one). The returned context
// carries the span: pass it to the Gigya client and to [StartWait]. End the
// Event exactly once when the event is done.
func (t *Tracing) StartEvent(ctx context.Context, m *kafka.Message, group string) (context.Context, Event) {
	if t == nil {
		return ctx, Event{}
	}
	ctx = t.prop.Extract(ctx, Headers{H: &m.Headers})
	ctx, span := t.tracer.Start(ctx, "process "+m.Topic,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			semconv.MessagingSystemKafka,
			semconv.MessagingOperationTypeProcess,
			semconv.MessagingOperationName("process"),
			semconv.MessagingDestinationName(m.Topic),
			semconv.MessagingDestinationPartitionID(strconv.Itoa(m.Partition)),
			semconv.MessagingKafkaOffset(int(m.Offset)),
			semconv.MessagingConsumerGroupName(group),
		))
	return ctx, Event{span: span}
}

// Describe records what the worker learnt from decoding the event: its
// site, lane and eventId. Empty values are left out.
func (e Event) Describe(site, lane, eventID string) {
	if e.span == nil || !e.span.IsRecording() {
		return
	}
	attrs := make([]attribute.KeyValue, 0, 3)
	for _, a := range [...]attribute.KeyValue{AttrSite.String(site), AttrLane.String(lane), AttrEventID.String(eventID)} {
		if a.Value.AsString() != "" {
			attrs = append(attrs, a)
		}
	}
	e.span.SetAttributes(attrs...)
}

// End ends the span with the event's outcome (the worker's outcome label,
// e.g. notified or dlq_exhausted) and the number of Gigya attempts made.
// An outcome starting with "dlq_" marks the span as an error.
func (e Event) End(outcome string, attempts int) {
	if e.span == nil {
		return
	}
	if e.span.IsRecording() {
		e.span.SetAttributes(AttrOutcome.String(outcome), AttrAttempts.Int(attempts))
		if len(outcome) > 4 && outcome[:4] == "dlq_" {
			e.span.SetStatus(codes.Error, outcome)
		}
	}
	e.span.End()
}

// Wait is a span for time an event spends waiting. The zero Wait does
// nothing.
type Wait struct{ span trace.Span }

// StartWait starts the span `wait <what>` (what is "outage" or "quota")
// under the span in ctx, if that span is being recorded; otherwise it costs
// a context lookup. End the Wait when the wait is over.
func StartWait(ctx context.Context, what string) Wait {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return Wait{}
	}
	_, span := parent.TracerProvider().Tracer(scope).Start(ctx, "wait "+what, trace.WithSpanKind(trace.SpanKindInternal))
	return Wait{span: span}
}

// End ends the wait span.
func (w Wait) End() {
	if w.span != nil {
		w.span.End()
	}
}

// Into returns ctx carrying the event's span, so that the spans of the
// event's Gigya calls and waits are its children while ctx keeps its own
// deadline and cancellation (the worker's processing context, not the
// fetch's). With the zero Event it returns ctx.
func (e Event) Into(ctx context.Context) context.Context {
	if e.span == nil {
		return ctx
	}
	return trace.ContextWithSpan(ctx, e.span)
}

package tracing

import (
	"context"
	"sync/atomic"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// counter counts the spans that never reach the collector. The SDK's batch
// processor drops spans silently when its queue is full, so counter keeps
// its own count of the spans handed to it and not yet taken by the
// exporter (pending), refuses a span when pending would exceed the queue's
// size (so the batch processor's queue is never full and never drops), and
// counts failed exports. Both sides are one atomic add per span.
type counter struct {
	max     int64
	pending atomic.Int64
	dropped atomic.Int64
	// stopped is cancelled by abort: exports in flight are cancelled and
	// new ones fail at once.
	stopped context.Context
	abort   context.CancelFunc
}

// front wraps the batch processor: it counts what goes in.
func (c *counter) front(next sdktrace.SpanProcessor) sdktrace.SpanProcessor {
	c.stopped, c.abort = context.WithCancel(context.Background())
	return &frontProcessor{SpanProcessor: next, c: c}
}

// wrap wraps the exporter: it counts what comes out.
func (c *counter) wrap(e sdktrace.SpanExporter) sdktrace.SpanExporter {
	return &countingExporter{SpanExporter: e, c: c}
}

type frontProcessor struct {
	sdktrace.SpanProcessor
	c *counter
}

// OnEnd passes a sampled span on unless the queue is full. It never blocks.
func (p *frontProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return
	}
	if p.c.pending.Add(1) > p.c.max {
		p.c.pending.Add(-1)
		p.c.dropped.Add(1)
		return
	}
	p.SpanProcessor.OnEnd(s)
}

type countingExporter struct {
	sdktrace.SpanExporter
	c *counter
}

// ExportSpans runs in the batch processor's goroutine, never on the event
// path. A failed export's spans are dropped (the exporter has already
// retried within the export timeout).
func (e *countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	n := int64(len(spans))
	e.c.pending.Add(-n)
	if e.c.stopped.Err() != nil {
		e.c.dropped.Add(n)
		return errAborted
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(e.c.stopped, cancel)()
	err := e.SpanExporter.ExportSpans(ctx, spans)
	if err != nil {
		e.c.dropped.Add(n)
	}
	return err
}

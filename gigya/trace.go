package gigya

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Attribute keys of the attempt spans that are regnotify's own.
const (
	// AttrErrorCode is Gigya's errorCode of a failed attempt.
	AttrErrorCode = attribute.Key("gigya.error_code")
	// AttrCallID is Gigya's callId of the answer.
	AttrCallID = attribute.Key("gigya.call_id")
	// AttrAttempt is the caller's attempt number ([WithAttempt]).
	AttrAttempt = attribute.Key("regnotify.attempt")
)

// scope is the instrumentation scope of the client's spans.
const scope = "github.com/regnotify/regnotify/gigya"

type attemptKey struct{}

// WithAttempt returns ctx marked with the caller's attempt number n (1 for
// the first try of an event) for the spans of the calls made with it. When
// ctx carries no span that is being recorded it returns ctx unchanged, so
// that it costs nothing with tracing off.
func WithAttempt(ctx context.Context, n int) context.Context {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx
	}
	return context.WithValue(ctx, attemptKey{}, n)
}

// tracer makes one client span per HTTP attempt and puts the W3C
// traceparent on the request. A nil *tracer (no Options.TracerProvider)
// does nothing.
type tracer struct {
	t    trace.Tracer
	prop propagation.TraceContext
	host attribute.KeyValue
}

func newTracer(tp trace.TracerProvider, baseURL string) *tracer {
	if tp == nil {
		return nil
	}
	host := ""
	if u, err := url.Parse(baseURL); err == nil {
		host = u.Hostname()
	}
	return &tracer{t: tp.Tracer(scope), host: semconv.ServerAddress(host)}
}

// inject puts traceparent (and tracestate) on the request.
func (tr *tracer) inject(ctx context.Context, h http.Header) {
	if tr != nil {
		tr.prop.Inject(ctx, propagation.HeaderCarrier(h))
	}
}

// tracedAttempt is attempt inside a span named after the method; resend is
// 1 for the immediate retry after 403002.
func (c *Client) tracedAttempt(ctx context.Context, cl *call, resend int) (answer, error) {
	if c.tr == nil {
		return c.attempt(ctx, cl)
	}
	ctx, span := c.tr.t.Start(ctx, cl.method, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(semconv.RPCMethod(cl.method), semconv.HTTPRequestMethodPost, c.tr.host))
	defer span.End()
	if !span.IsRecording() {
		return c.attempt(ctx, cl)
	}
	if n, ok := ctx.Value(attemptKey{}).(int); ok {
		span.SetAttributes(AttrAttempt.Int(n))
	}
	if resend > 0 {
		span.SetAttributes(semconv.HTTPRequestResendCount(resend))
	}
	a, err := c.attempt(ctx, cl)
	var ge *Error
	switch {
	case err == nil:
		span.SetAttributes(AttrErrorCode.Int(0), AttrCallID.String(a.CallID))
	case errors.As(err, &ge):
		endFailed(span, ge)
	default:
		span.SetStatus(codes.Error, "error")
	}
	return a, err
}

// endFailed records a failed attempt. The status text is the error class,
// never the error's text, which may quote the user's ids.
func endFailed(span trace.Span, ge *Error) {
	kind := "transport"
	switch {
	case ge.Code != 0:
		kind = strconv.Itoa(ge.Code)
		span.SetAttributes(AttrErrorCode.Int(ge.Code))
	case ge.HTTPStatus >= 500:
		kind = "http_" + strconv.Itoa(ge.HTTPStatus)
	case ge.local:
		kind = "local"
	case ge.HTTPStatus != 0:
		kind = "invalid_response"
	}
	if ge.HTTPStatus != 0 {
		span.SetAttributes(semconv.HTTPResponseStatusCode(ge.HTTPStatus))
	}
	if ge.CallID != "" {
		span.SetAttributes(AttrCallID.String(ge.CallID))
	}
	span.SetAttributes(semconv.ErrorTypeKey.String(kind))
	span.SetStatus(codes.Error, kind)
}

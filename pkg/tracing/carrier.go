package tracing

import (
	"context"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// HeaderTraceParent is the W3C header, the NATS header and the CloudEvents extension attribute alike.
const HeaderTraceParent = "traceparent"

// TraceParent is ctx's span context as a W3C traceparent, or "" when ctx has none.
func TraceParent(ctx context.Context) string {
	c := propagation.MapCarrier{}
	Propagator().Inject(ctx, c)
	return c[HeaderTraceParent]
}

// WithTraceParent returns ctx with the remote span context of traceparent; ctx unchanged when it is
// empty or malformed.
func WithTraceParent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return Propagator().Extract(ctx, propagation.MapCarrier{HeaderTraceParent: traceparent})
}

// FromMessage returns ctx with the trace context of a message from the bus: its NATS headers, else the
// traceparent of the CloudEvent it carries (fallback), as an older publisher may set only that.
func FromMessage(ctx context.Context, h nats.Header, fallback string) context.Context {
	if h != nil {
		if out := Propagator().Extract(ctx, natsCarrier(h)); trace.SpanContextFromContext(out).IsValid() {
			return out
		}
	}
	return WithTraceParent(ctx, fallback)
}

// InjectMessage sets the trace context of ctx on a message's NATS headers.
func InjectMessage(ctx context.Context, h nats.Header) {
	Propagator().Inject(ctx, natsCarrier(h))
}

// natsCarrier reads and writes NATS headers by their exact names (NATS headers are case-sensitive;
// propagation.HeaderCarrier would canonicalise them to "Traceparent").
type natsCarrier nats.Header

func (c natsCarrier) Get(key string) string { return nats.Header(c).Get(key) }
func (c natsCarrier) Set(key, value string) { nats.Header(c).Set(key, value) }
func (c natsCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// EventAttrs are the attributes of a span that publishes or processes one event (OpenTelemetry's
// messaging conventions, with the CloudEvents id and type).
func EventAttrs(subject, id, typ string) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("messaging.system", "nats"),
		attribute.String("messaging.destination.name", subject),
		attribute.String("messaging.message.id", id),
		attribute.String("cloudevents.event_id", id),
		attribute.String("cloudevents.event_type", typ),
	}
}

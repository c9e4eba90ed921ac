package tracing_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace"

	"github.com/connectedbbq/platform/pkg/tracing"
	"github.com/connectedbbq/platform/testing/otlptest"
)

// The SDK's OTLP/HTTP exporter, configured by OTEL_* alone, delivers to a real OTLP receiver.
func TestExportsToTheOTLPEndpoint(t *testing.T) {
	rcv := otlptest.New(t)
	env := rcv.Env()
	for k, v := range env {
		t.Setenv(k, v) // the exporter reads its settings from the process environment
	}
	tp, err := tracing.New(context.Background(), tracing.Config{Service: "svc", Version: "v1", Environ: env})
	if err != nil {
		t.Fatal(err)
	}
	if !tp.Exporting {
		t.Fatal("not exporting with OTEL_EXPORTER_OTLP_ENDPOINT set")
	}
	parent := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	_, span := tracing.Tracer(tp, "test").Start(tracing.WithTraceParent(context.Background(), parent), "work")
	span.End()
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := rcv.Trace("0af7651916cd43dd8448eb211c80319c")
	if len(spans) != 1 || spans[0].Name != "work" || spans[0].ParentID != "b7ad6b7169203331" || spans[0].Service != "svc" {
		t.Fatalf("received %+v, want the span 'work' of svc under the remote parent", spans)
	}
}

func TestConfiguration(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		exporting bool
		err       string
	}{
		{"unset: off", nil, false, ""},
		{"exporter none", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_EXPORTER": "none"}, false, ""},
		{"sdk disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_SDK_DISABLED": "true"}, false, ""},
		{"endpoint: on", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}, true, ""},
		{"grpc", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, true, ""},
		{"unknown exporter", map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, false, "OTEL_TRACES_EXPORTER"},
		{"unknown protocol", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, false, "OTEL_EXPORTER_OTLP_PROTOCOL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp, err := tracing.New(context.Background(), tracing.Config{Service: "svc", Environ: tt.env})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one naming %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer func() { // nobody listens at the endpoints: do not wait for the export
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				defer cancel()
				_ = tp.Shutdown(ctx)
			}()
			if tp.Exporting != tt.exporting {
				t.Fatalf("exporting = %v, want %v", tp.Exporting, tt.exporting)
			}
			// Off or on, spans have ids: events keep a traceparent, logs a trace id.
			ctx, span := tracing.Tracer(tp, "test").Start(context.Background(), "x")
			defer span.End()
			if tracing.TraceParent(ctx) == "" {
				t.Fatal("no traceparent")
			}
		})
	}
}

func TestTraceContextOnNATSHeadersAndCloudEvents(t *testing.T) {
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	ctx := tracing.WithTraceParent(context.Background(), tp)
	h := nats.Header{}
	tracing.InjectMessage(ctx, h)
	if got := h.Get("traceparent"); got != tp { // exact, lower-case: NATS headers are case-sensitive
		t.Fatalf("header %v, want traceparent %s", h, tp)
	}
	other := "00-11111111111111111111111111111111-2222222222222222-01"
	if got := tracing.TraceParent(tracing.FromMessage(context.Background(), h, other)); got != tp {
		t.Fatalf("from headers: %s, want %s", got, tp)
	}
	if got := tracing.TraceParent(tracing.FromMessage(context.Background(), nats.Header{}, other)); got != other {
		t.Fatalf("from the CloudEvent: %s, want %s", got, other)
	}
	if sc := trace.SpanContextFromContext(tracing.WithTraceParent(context.Background(), "garbage")); sc.IsValid() {
		t.Fatal("a malformed traceparent gave a span context")
	}
}

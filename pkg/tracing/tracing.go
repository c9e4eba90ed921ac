// Package tracing is the services' OpenTelemetry: a tracer provider configured by the standard OTEL_*
// variables, exporting over OTLP only when an endpoint is set, and the W3C trace context carried in the
// places our requests and events travel (HTTP headers, NATS headers, the CloudEvent's traceparent).
//
// Without an exporter the provider still makes span contexts, so every event keeps a traceparent and
// every log line the trace id of what it serves; the spans are just not sent anywhere.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Config names the service; the exporter, sampler and batching come from Environ's OTEL_* variables.
type Config struct {
	Service string
	Version string
	Environ map[string]string
}

// Provider is the service's tracer provider.
type Provider struct {
	*sdktrace.TracerProvider
	// Exporting says whether spans leave the process (an OTLP endpoint is configured).
	Exporting bool
}

// New builds the provider. Spans are exported when OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set and OTEL_TRACES_EXPORTER is unset or "otlp"; the protocol
// is OTEL_EXPORTER_OTLP_PROTOCOL (http/protobuf, the default, or grpc). The exporter reads the other
// OTEL_EXPORTER_OTLP_* variables (headers, timeout, TLS) itself, as the SDK documents them.
func New(ctx context.Context, c Config) (*Provider, error) {
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", c.Service), attribute.String("service.version", c.Version)),
		resource.WithFromEnv()) // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over ours
	if err != nil {
		return nil, fmt.Errorf("otel resource: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	exp, err := exporter(ctx, c.Environ)
	if err != nil {
		return nil, err
	}
	if exp != nil {
		opts = append(opts, sdktrace.WithBatcher(exp)) // OTEL_BSP_* tune the batching
	}
	return &Provider{TracerProvider: sdktrace.NewTracerProvider(opts...), Exporting: exp != nil}, nil
}

func exporter(ctx context.Context, env map[string]string) (sdktrace.SpanExporter, error) {
	if strings.EqualFold(env["OTEL_SDK_DISABLED"], "true") {
		return nil, nil
	}
	switch kind := env["OTEL_TRACES_EXPORTER"]; kind {
	case "none":
		return nil, nil
	case "", "otlp":
	default:
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER: %q is not supported (want otlp or none)", kind)
	}
	if env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "" && env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] == "" {
		return nil, nil
	}
	protocol := env["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"]
	if protocol == "" {
		protocol = env["OTEL_EXPORTER_OTLP_PROTOCOL"]
	}
	var exp sdktrace.SpanExporter
	var err error
	switch protocol {
	case "", "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL: %q is not supported (want http/protobuf or grpc)", protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("otlp exporter: %w", err)
	}
	return exp, nil
}

// Shutdown sends the spans still buffered; a nil provider has none.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil {
		return nil
	}
	if err := p.TracerProvider.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("flush traces: %w", err)
	}
	return nil
}

// Propagator is the W3C trace context: what Keycloak's provider sends and what our events carry.
func Propagator() propagation.TextMapPropagator { return propagation.TraceContext{} }

// Tracer returns tp's tracer for a component; a nil tp gives spans that are not recorded and keep
// whatever trace context ctx already has.
func Tracer(tp trace.TracerProvider, component string) trace.Tracer {
	if tp == nil {
		return noop.Tracer{}
	}
	return tp.Tracer("github.com/connectedbbq/platform/" + component)
}

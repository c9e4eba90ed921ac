package tracing

import (
	"net/http"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/trace"
)

// Handler traces the requests h serves as server spans named "METHOD route", children of the traceparent
// the caller sent.
func Handler(tp trace.TracerProvider, h http.Handler) http.Handler {
	if tp == nil {
		return h
	}
	return otelhttp.NewHandler(h, "", otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(Propagator()),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			switch {
			case strings.Contains(r.Pattern, " "): // "GET /v1/me"
				return r.Pattern
			case r.Pattern != "": // set once a mux has routed (the span is renamed at its end)
				return r.Method + " " + r.Pattern
			}
			return r.Method
		}))
}

// Transport traces the requests sent through rt as client spans and sends their traceparent.
func Transport(tp trace.TracerProvider, rt http.RoundTripper) http.RoundTripper {
	if tp == nil {
		return rt
	}
	return otelhttp.NewTransport(rt, otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(Propagator()))
}

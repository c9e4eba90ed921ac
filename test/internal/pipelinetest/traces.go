package pipelinetest

import (
	"strings"

	"github.com/connectedbbq/platform/testing/otlptest"
)

// TraceIDs splits a W3C traceparent into its trace id and span id.
func TraceIDs(traceparent string) (traceID, spanID string) {
	parts := strings.Split(traceparent, "-")
	if len(parts) < 3 {
		return "", ""
	}
	return parts[1], parts[2]
}

// Step is a span wanted in a chain: {service, kind, the start of its name}.
type Step [3]string

// SpanChain follows the spans from parent down, one step per child of the wanted service, kind and name.
func SpanChain(spans []otlptest.Span, parent string, steps ...Step) []otlptest.Span {
	var chain []otlptest.Span
	for _, st := range steps {
		s, ok := otlptest.Find(spans, func(s otlptest.Span) bool {
			return s.ParentID == parent && s.Service == st[0] && s.Kind == st[1] && strings.HasPrefix(s.Name, st[2])
		})
		if !ok {
			return chain
		}
		chain, parent = append(chain, s), s.SpanID
	}
	return chain
}

// RootOf walks up from s to the span without a parent; false while a parent has not arrived yet.
func RootOf(spans []otlptest.Span, s otlptest.Span) (otlptest.Span, bool) {
	for range len(spans) + 1 {
		if s.ParentID == "" {
			return s, true
		}
		parent, ok := otlptest.Find(spans, func(p otlptest.Span) bool { return p.SpanID == s.ParentID })
		if !ok {
			return otlptest.Span{}, false
		}
		s = parent
	}
	return otlptest.Span{}, false
}

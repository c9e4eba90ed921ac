package service

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// Log keys every service shares.
const (
	KeyService = "service"
	KeyVersion = "version"
	KeyErr     = "err"
	KeyTraceID = "trace_id"
	KeySpanID  = "span_id"
)

// NewLogger returns a JSON logger at level ("debug", "info", "warn", "error") whose every line carries
// the service and its version, errors under "err" (an "error" attribute is renamed, so no call site can
// split them over two keys), and the trace and span ids of the span in the context it is given.
func NewLogger(w io.Writer, level, service, version string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("LOG_LEVEL: %w", err)
	}
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == "error" {
			a.Key = KeyErr
		}
		return a
	}})
	return slog.New(traceHandler{h}).With(KeyService, service, KeyVersion, version), nil
}

// traceHandler adds the trace context of the record's context: log with the *Context methods (InfoContext,
// WarnContext...) where a request or an event is being served.
type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String(KeyTraceID, sc.TraceID().String()), slog.String(KeySpanID, sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(as)}
}
func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}

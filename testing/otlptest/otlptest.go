// Package otlptest is an OTLP/HTTP trace receiver that runs inside a test: our receiver, built from the
// OTLP protobuf types (the same ones the SDK's exporter sends), standing in for an OpenTelemetry collector,
// which is too heavy to build for a test. It keeps every span it is sent, so a test can read whole traces.
package otlptest

import (
	"compress/gzip"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Span is one received span, flattened for assertions.
type Span struct {
	Service  string // the resource's service.name
	Name     string
	Kind     string // "server", "client", "producer", "consumer", "internal"
	TraceID  string
	SpanID   string
	ParentID string            // "" for a root span
	Links    []string          // span ids of the linked spans
	Attrs    map[string]string // string values; others in their protojson form
	Error    bool              // status code ERROR
	Start    time.Time
}

// Receiver is a running OTLP/HTTP trace receiver.
type Receiver struct {
	// URL is the base endpoint: OTEL_EXPORTER_OTLP_ENDPOINT of the processes under test.
	URL   string
	mu    sync.Mutex
	spans []Span
}

// New starts a receiver that stops with the test.
func New(t testing.TB) *Receiver {
	r, stop := Start()
	t.Cleanup(stop)
	return r
}

// Start starts a receiver for a whole test binary (TestMain, where no test exists yet); stop ends it.
func Start() (r *Receiver, stop func()) {
	r = &Receiver{}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	r.URL = srv.URL
	return r, srv.Close
}

// Env is the environment a process needs to export its spans here promptly.
func (r *Receiver) Env() map[string]string {
	return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": r.URL, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
		"OTEL_BSP_SCHEDULE_DELAY": "100"}
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	// Where a collector takes OTLP/HTTP traces: the Go SDK and Keycloak (Quarkus) add the path to the endpoint.
	if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" {
		http.NotFound(w, req)
		return
	}
	body := io.Reader(req.Body)
	if req.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = gz
	}
	b, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var msg coltrace.ExportTraceServiceRequest
	if strings.HasPrefix(req.Header.Get("Content-Type"), "application/json") {
		err = protojson.Unmarshal(b, &msg)
	} else {
		err = proto.Unmarshal(b, &msg)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.add(&msg)
	out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (r *Receiver) add(msg *coltrace.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range msg.GetResourceSpans() {
		service := attrs(rs.GetResource().GetAttributes())["service.name"]
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				r.spans = append(r.spans, flatten(service, s))
			}
		}
	}
}

func flatten(service string, s *tracepb.Span) Span {
	out := Span{Service: service, Name: s.GetName(), TraceID: hex.EncodeToString(s.GetTraceId()),
		SpanID: hex.EncodeToString(s.GetSpanId()), Attrs: attrs(s.GetAttributes()),
		Kind:  strings.ToLower(strings.TrimPrefix(s.GetKind().String(), "SPAN_KIND_")),
		Error: s.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR,
		Start: time.Unix(0, int64(s.GetStartTimeUnixNano()))} //nolint:gosec // nanoseconds since 1970 fit
	if len(s.GetParentSpanId()) > 0 {
		out.ParentID = hex.EncodeToString(s.GetParentSpanId())
	}
	for _, l := range s.GetLinks() {
		out.Links = append(out.Links, hex.EncodeToString(l.GetSpanId()))
	}
	return out
}

func attrs(kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		if sv, ok := kv.GetValue().GetValue().(*commonpb.AnyValue_StringValue); ok {
			m[kv.GetKey()] = sv.StringValue
			continue
		}
		b, _ := protojson.Marshal(kv.GetValue())
		m[kv.GetKey()] = string(b)
	}
	return m
}

// Spans returns every span received so far, in start order.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	out := slices.Clone(r.spans)
	r.mu.Unlock()
	slices.SortStableFunc(out, func(a, b Span) int { return a.Start.Compare(b.Start) })
	return out
}

// Trace returns the spans of one trace, in start order.
func (r *Receiver) Trace(traceID string) []Span {
	return slices.DeleteFunc(r.Spans(), func(s Span) bool { return s.TraceID != traceID })
}

// Find returns the first span of the trace that matches, and whether there is one.
func Find(spans []Span, match func(Span) bool) (Span, bool) {
	i := slices.IndexFunc(spans, match)
	if i < 0 {
		return Span{}, false
	}
	return spans[i], true
}

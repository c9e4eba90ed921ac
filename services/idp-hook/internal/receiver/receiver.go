// Package receiver is idp-hook's HTTP side: it authenticates Keycloak's webhooks, maps them to
// CloudEvents and answers 2xx only once JetStream has stored the event.
package receiver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/connectedbbq/platform/pkg/events"
	"github.com/connectedbbq/platform/pkg/tracing"
	"github.com/connectedbbq/platform/pkg/webhook"
	"github.com/connectedbbq/platform/services/idp-hook/internal/kcevent"
)

// Paths of the two webhooks.
const (
	EventsPath      = "/webhooks/keycloak/events"
	AdminEventsPath = "/webhooks/keycloak/admin-events"
)

// Publisher stores a CloudEvent on the bus; the receiver answers only after it returns.
type Publisher interface {
	Publish(ctx context.Context, subject string, ev cloudevents.Event) (*jetstream.PubAck, error)
}

// Options configure a Receiver.
type Options struct {
	Verifier       *webhook.Verifier
	Publisher      Publisher
	MaxBodyBytes   int64
	PublishTimeout time.Duration
	RetryAfter     time.Duration // told to the sender when the bus is unavailable
	Log            *slog.Logger
	Metrics        *Metrics
	Now            func() time.Time
	// Realm is the one realm whose events are taken (KEYCLOAK_REALM); another realm's are refused with 403
	// (a Keycloak that sends us a second realm's events is misconfigured, and its events are not ours to put
	// on the bus). Empty: any realm.
	Realm  string
	Tracer trace.TracerProvider // nil: no spans; the sender's traceparent is passed on
}

// Receiver handles the webhooks.
type Receiver struct{ opt Options }

// New returns a Receiver.
func New(opt Options) *Receiver {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Receiver{opt: opt}
}

// Mount adds the webhook routes to mux.
func (r *Receiver) Mount(mux *http.ServeMux) {
	mux.Handle("POST "+EventsPath, r.handler("events", func(b []byte) (kcevent.Mapped, error) {
		var e kcevent.Event
		if err := decodeStrict(b, &e); err != nil {
			return kcevent.Mapped{}, err
		}
		return kcevent.MapEvent(e)
	}))
	mux.Handle("POST "+AdminEventsPath, r.handler("admin-events", func(b []byte) (kcevent.Mapped, error) {
		var e kcevent.AdminEvent
		if err := decodeStrict(b, &e); err != nil {
			return kcevent.Mapped{}, err
		}
		return kcevent.MapAdminEvent(e)
	}))
}

// errMalformed marks a body that is not the JSON of a Keycloak event.
var errMalformed = errors.New("malformed body")

func decodeStrict(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %w", errMalformed, err)
	}
	return nil
}

// outcome is what happened to one webhook: its status, the metric label and a message for the sender.
type outcome struct {
	status int
	label  string
	detail string
}

func (r *Receiver) handler(endpoint string, mapBody func([]byte) (kcevent.Mapped, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		start := r.opt.Now()
		o, msgID := r.handle(w, req, mapBody)
		r.opt.Metrics.Webhooks.WithLabelValues(endpoint, o.label).Inc()
		log, ctx := r.opt.Log.With("endpoint", endpoint, "webhook_id", msgID, "outcome", o.label, "status", o.status), req.Context()
		if o.status >= 500 {
			w.Header().Set("Retry-After", strconv.Itoa(int(r.opt.RetryAfter.Seconds())))
			log.WarnContext(ctx, "webhook not stored; sender will retry", "err", o.detail)
		} else if o.status >= 400 {
			log.InfoContext(ctx, "webhook refused", "err", o.detail)
		} else {
			log.DebugContext(ctx, "webhook handled", "duration", r.opt.Now().Sub(start))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(o.status)
		_ = json.NewEncoder(w).Encode(map[string]string{"status": o.label, "detail": o.detail})
	})
}

func (r *Receiver) handle(w http.ResponseWriter, req *http.Request, mapBody func([]byte) (kcevent.Mapped, error)) (outcome, string) {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.opt.MaxBodyBytes))
	if maxErr := (*http.MaxBytesError)(nil); errors.As(err, &maxErr) {
		return outcome{http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("body over %d bytes", r.opt.MaxBodyBytes)}, ""
	} else if err != nil {
		return outcome{http.StatusBadRequest, "unreadable", "could not read the body"}, ""
	}
	msgID, err := r.opt.Verifier.Verify(req.Header, body, r.opt.Now())
	if err != nil {
		return outcome{http.StatusUnauthorized, "unauthenticated", err.Error()}, req.Header.Get(webhook.HeaderID)
	}
	m, err := mapBody(body)
	switch {
	case errors.Is(err, errMalformed), errors.Is(err, kcevent.ErrInvalid):
		return outcome{http.StatusBadRequest, "invalid", err.Error()}, msgID
	case errors.Is(err, kcevent.ErrIgnored):
		return outcome{http.StatusAccepted, "ignored", err.Error()}, msgID
	case err != nil:
		return outcome{http.StatusBadRequest, "invalid", err.Error()}, msgID
	}
	if want := events.IdPSource(r.opt.Realm); r.opt.Realm != "" && m.Meta.Source != want {
		return outcome{http.StatusForbidden, "wrong_realm", fmt.Sprintf("event of source %s refused: this idp-hook takes realm %q only (%s)",
			m.Meta.Source, r.opt.Realm, want)}, msgID
	}
	// The event carries the publish span's context: its consumers' spans are children of it.
	ctx, span := tracing.Tracer(r.opt.Tracer, "idp-hook/receiver").Start(req.Context(), "publish "+m.Kind.Subject,
		trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(tracing.EventAttrs(m.Kind.Subject, m.Meta.ID, m.Kind.Type)...))
	defer span.End()
	m.Meta.TraceParent = traceParent(ctx, req)
	ev, err := events.New(m.Kind, m.Meta, m.Data)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		return outcome{http.StatusBadRequest, "invalid", err.Error()}, msgID
	}
	o := r.publish(ctx, m.Kind, ev)
	if o.status >= 500 {
		span.SetStatus(codes.Error, o.detail)
	}
	return o, msgID
}

// traceParent is the trace context the event carries: the publish span's, else (no tracer) the one the
// sender sent, else a new one.
func traceParent(ctx context.Context, req *http.Request) string {
	if tp := tracing.TraceParent(ctx); tp != "" {
		return tp
	}
	if tp := req.Header.Get(tracing.HeaderTraceParent); tp != "" {
		return tp
	}
	return events.NewTraceParent()
}

func (r *Receiver) publish(ctx context.Context, kind events.Kind, ev cloudevents.Event) outcome {
	ctx, cancel := context.WithTimeout(ctx, r.opt.PublishTimeout)
	defer cancel()
	start := r.opt.Now()
	ack, err := r.opt.Publisher.Publish(ctx, kind.Subject, ev)
	r.opt.Metrics.PublishSeconds.Observe(r.opt.Now().Sub(start).Seconds())
	if err != nil {
		return outcome{http.StatusServiceUnavailable, "bus_unavailable", "the event bus did not store the event; retry"}
	}
	if ack.Duplicate {
		return outcome{http.StatusAccepted, "duplicate", "already stored"}
	}
	return outcome{http.StatusAccepted, "published", ev.ID()}
}

// Metrics of the receiver.
type Metrics struct {
	Webhooks       *prometheus.CounterVec
	PublishSeconds prometheus.Histogram
}

// NewMetrics registers the receiver's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bbq_idphook_webhooks_total",
			Help: "Webhooks received, by endpoint and outcome (published, duplicate, ignored, invalid, unauthenticated, wrong_realm, too_large, bus_unavailable).",
		}, []string{"endpoint", "outcome"}),
		PublishSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "bbq_idphook_publish_seconds",
			Help:    "Time to store one event in JetStream (publish to PubAck).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	for _, endpoint := range []string{"events", "admin-events"} { // at 0, so that BbqWebhookWrongRealm sees the first
		m.Webhooks.WithLabelValues(endpoint, "wrong_realm")
	}
	reg.MustRegister(m.Webhooks, m.PublishSeconds)
	return m
}

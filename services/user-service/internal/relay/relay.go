// Package relay publishes the outbox: every event the store committed reaches the bus, once,
// with Nats-Msg-Id = outbox id, whatever crashes in between.
package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/connectedbbq/platform/pkg/bus"
	"github.com/connectedbbq/platform/pkg/tracing"
	"github.com/connectedbbq/platform/services/user-service/internal/store"
)

// Relay moves outbox rows to JetStream.
type Relay struct {
	store    *store.Store
	js       jetstream.JetStream
	log      *slog.Logger
	batch    int
	interval time.Duration // poll interval: catches rows committed by other replicas or before a restart
	wake     chan struct{}
	metrics  *Metrics
	tracer   trace.TracerProvider
}

// Config of a relay.
type Config struct {
	Batch    int           // outbox rows published per batch
	Interval time.Duration // poll interval: catches rows committed by other replicas or before a restart
	// Tracer makes a producer span per event, a child of the trace context stored with the event (that
	// of the consumer's span of its cause); nil: none, the event's own traceparent is the header's.
	Tracer trace.TracerProvider
}

// New returns a relay; call Wake after committing outbox rows to publish them at once.
func New(cfg Config, s *store.Store, js jetstream.JetStream, log *slog.Logger, m *Metrics) *Relay {
	return &Relay{store: s, js: js, log: log, batch: cfg.Batch, interval: cfg.Interval, wake: make(chan struct{}, 1), metrics: m, tracer: cfg.Tracer}
}

// Wake asks the relay to drain now; it never blocks.
func (r *Relay) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run drains the outbox until ctx ends, then drains once more so committed events go out.
func (r *Relay) Run(ctx context.Context) error {
	tick := time.NewTicker(r.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			r.drain(final)
			return nil
		case <-r.wake:
		case <-tick.C:
			r.observeBacklog(ctx)
		}
		r.drain(ctx)
	}
}

func (r *Relay) drain(ctx context.Context) {
	for {
		n, err := r.store.DrainOutbox(ctx, r.batch, r.publish)
		if err != nil {
			r.log.WarnContext(ctx, "outbox relay: will retry", "err", err)
			return
		}
		if n < r.batch {
			return
		}
	}
}

// publish sends a batch asynchronously and waits for every PubAck; it reports how many leading
// events are stored.
func (r *Relay) publish(ctx context.Context, batch []store.OutboxEvent) (int, error) {
	start := time.Now()
	futures := make([]jetstream.PubAckFuture, 0, len(batch))
	spans := make([]trace.Span, 0, len(batch))
	tracer := tracing.Tracer(r.tracer, "user-service/relay")
	done := func(n int, err error) (int, error) {
		endSpans(spans, n, err)
		return r.published(n, start, err)
	}
	acked := 0 // futures[:acked] are acknowledged
	pending := inFlight{}
	for _, e := range batch {
		if pending.mustWait(e) { // see order.go
			n, err := r.await(ctx, futures[acked:], nil)
			if acked += n; err != nil {
				return done(acked, err)
			}
		}
		msg := nats.NewMsg(e.Subject)
		msg.Data = e.Event
		msg.Header.Set(bus.HeaderContentType, bus.ContentType)
		sctx, span := tracer.Start(tracing.WithTraceParent(ctx, storedTraceParent(e.Event)), "publish "+e.Subject,
			trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(tracing.EventAttrs(e.Subject, e.ID, "")...))
		spans = append(spans, span)
		tracing.InjectMessage(sctx, msg.Header)
		f, err := r.js.PublishMsgAsync(msg, jetstream.WithMsgID(e.ID))
		if err != nil {
			n, err := r.await(ctx, futures[acked:], fmt.Errorf("publish %s: %w", e.ID, err))
			return done(acked+n, err)
		}
		futures = append(futures, f)
	}
	n, err := r.await(ctx, futures[acked:], nil)
	return done(acked+n, err)
}

func (r *Relay) published(n int, start time.Time, err error) (int, error) {
	r.metrics.Published.Add(float64(n))
	r.metrics.BatchSeconds.Observe(time.Since(start).Seconds())
	return n, err
}

// storedTraceParent is the trace context the outbox row keeps: the CloudEvent's traceparent.
func storedTraceParent(event []byte) string {
	var ev struct {
		TraceParent string `json:"traceparent"`
	}
	_ = json.Unmarshal(event, &ev) // the store wrote it; a row without one starts a new trace
	return ev.TraceParent
}

// endSpans ends the publish spans: the first n stored, the others failed with err.
func endSpans(spans []trace.Span, n int, err error) {
	for i, s := range spans {
		if i >= n {
			msg := "not stored"
			if err != nil {
				msg = err.Error()
			}
			s.SetStatus(codes.Error, msg)
		}
		s.End()
	}
}

func (r *Relay) await(ctx context.Context, futures []jetstream.PubAckFuture, cause error) (int, error) {
	timeout := time.After(10 * time.Second)
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return i, fmt.Errorf("publish %s: %w", f.Msg().Header.Get(jetstream.MsgIDHeader), err)
		case <-timeout:
			return i, fmt.Errorf("no PubAck for %s within 10s", f.Msg().Header.Get(jetstream.MsgIDHeader))
		case <-ctx.Done():
			return i, ctx.Err()
		}
	}
	return len(futures), cause
}

func (r *Relay) observeBacklog(ctx context.Context) {
	n, age, err := r.store.OutboxBacklog(ctx)
	if err != nil {
		return
	}
	r.metrics.Backlog.Set(float64(n))
	r.metrics.OldestSeconds.Set(age.Seconds())
}

// Metrics of the relay.
type Metrics struct {
	Published     prometheus.Counter
	Backlog       prometheus.Gauge
	OldestSeconds prometheus.Gauge
	BatchSeconds  prometheus.Histogram
}

// NewMetrics registers the relay's metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Published:     prometheus.NewCounter(prometheus.CounterOpts{Name: "bbq_users_outbox_published_total", Help: "Outbox events stored in JetStream."}),
		Backlog:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "bbq_users_outbox_backlog", Help: "Outbox events not yet published."}),
		OldestSeconds: prometheus.NewGauge(prometheus.GaugeOpts{Name: "bbq_users_outbox_oldest_seconds", Help: "Age of the oldest unpublished outbox event."}),
		BatchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "bbq_users_outbox_batch_seconds",
			Help: "Time to publish one outbox batch.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
	}
	reg.MustRegister(m.Published, m.Backlog, m.OldestSeconds, m.BatchSeconds)
	return m
}

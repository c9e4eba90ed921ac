// Package relay publishes the outbox: every event the store committed reaches the bus, once,
// with Nats-Msg-Id = outbox id, whatever crashes in between.
package relay

import (
	"context"
	"errors"
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

// drain publishes the outbox for as long as rows wait: a full batch leaves more behind, and a wake during a
// batch means more were committed meanwhile.
func (r *Relay) drain(ctx context.Context) {
	more := func(batch int) bool {
		select {
		case <-r.wake:
			return true
		default:
			return batch == r.batch
		}
	}
	if _, err := r.store.DrainOutboxWhile(ctx, r.batch, r.publish, more); err != nil {
		r.log.WarnContext(ctx, "outbox relay: will retry", "err", err)
	}
}

// publish sends a batch in waves (see order.go), each asynchronously, waiting for every PubAck of a wave
// before the next; it reports the events stored. After a failure it sends no further wave, so an event whose
// predecessor of its subject is not stored waits for the next drain.
func (r *Relay) publish(ctx context.Context, batch []store.OutboxEvent) ([]store.OutboxEvent, error) {
	start := time.Now()
	stored := make([]store.OutboxEvent, 0, len(batch))
	var err error
	for left := prepare(batch); len(left) > 0 && err == nil; {
		var wave []outgoing
		wave, left = nextWave(left)
		var ok []store.OutboxEvent
		ok, err = r.sendWave(ctx, wave)
		stored = append(stored, ok...)
	}
	r.metrics.Published.Add(float64(len(stored)))
	r.metrics.BatchSeconds.Observe(time.Since(start).Seconds())
	return stored, err
}

// sendWave publishes events of distinct subjects asynchronously and waits for their PubAcks; it reports
// those stored and the first error.
func (r *Relay) sendWave(ctx context.Context, wave []outgoing) ([]store.OutboxEvent, error) {
	tracer := tracing.Tracer(r.tracer, "user-service/relay")
	futures := make([]jetstream.PubAckFuture, 0, len(wave))
	spans := make([]trace.Span, 0, len(wave))
	var sendErr error
	for _, e := range wave {
		msg := nats.NewMsg(e.Subject)
		msg.Data = e.Event
		msg.Header.Set(bus.HeaderContentType, bus.ContentType)
		sctx, span := tracer.Start(tracing.WithTraceParent(ctx, e.traceParent), "publish "+e.Subject,
			trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(tracing.EventAttrs(e.Subject, e.ID, "")...))
		tracing.InjectMessage(sctx, msg.Header)
		f, err := r.js.PublishMsgAsync(msg, jetstream.WithMsgID(e.ID))
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
			span.End()
			sendErr = fmt.Errorf("publish %s: %w", e.ID, err)
			break
		}
		futures, spans = append(futures, f), append(spans, span)
	}
	acked, err := r.await(ctx, futures, spans)
	stored := make([]store.OutboxEvent, 0, len(wave))
	for i, ok := range acked {
		if ok {
			stored = append(stored, wave[i].OutboxEvent)
		}
	}
	return stored, errors.Join(sendErr, err)
}

// await waits for every future (10 s in all), ending each one's span; it reports which were acknowledged and
// the first error.
func (r *Relay) await(ctx context.Context, futures []jetstream.PubAckFuture, spans []trace.Span) ([]bool, error) {
	timeout := time.After(10 * time.Second)
	acked := make([]bool, len(futures))
	var first error
	for i, f := range futures {
		var err error
		if first == nil || !errors.Is(first, errNoPubAck) {
			select {
			case <-f.Ok():
				acked[i] = true
			case err = <-f.Err():
				err = fmt.Errorf("publish %s: %w", f.Msg().Header.Get(jetstream.MsgIDHeader), err)
			case <-timeout:
				err = fmt.Errorf("%w for %s within 10s", errNoPubAck, f.Msg().Header.Get(jetstream.MsgIDHeader))
			case <-ctx.Done():
				err = ctx.Err()
			}
		} else {
			err = first // the time is up: the rest count as not stored (republished with their ids)
		}
		if err != nil {
			spans[i].SetStatus(codes.Error, err.Error())
			if first == nil {
				first = err
			}
		}
		spans[i].End()
	}
	return acked, first
}

var errNoPubAck = errors.New("no PubAck")

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

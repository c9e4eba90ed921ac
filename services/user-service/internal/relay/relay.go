// Package relay publishes the outbox: every event the store committed reaches the bus, once,
// with Nats-Msg-Id = outbox id, whatever crashes in between.
package relay

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/connectedbbq/platform/pkg/bus"
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
}

// New returns a relay; call Wake after committing outbox rows to publish them at once.
func New(s *store.Store, js jetstream.JetStream, log *slog.Logger, m *Metrics, batch int, interval time.Duration) *Relay {
	return &Relay{store: s, js: js, log: log, batch: batch, interval: interval, wake: make(chan struct{}, 1), metrics: m}
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
			r.log.Warn("outbox relay: will retry", "error", err)
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
	acked := 0 // futures[:acked] are acknowledged
	pending := inFlight{}
	for _, e := range batch {
		if pending.mustWait(e) { // see order.go
			n, err := r.await(ctx, futures[acked:], nil)
			if acked += n; err != nil {
				return r.published(acked, start, err)
			}
		}
		msg := nats.NewMsg(e.Subject)
		msg.Data = e.Event
		msg.Header.Set(bus.HeaderContentType, bus.ContentType)
		f, err := r.js.PublishMsgAsync(msg, jetstream.WithMsgID(e.ID))
		if err != nil {
			n, err := r.await(ctx, futures[acked:], fmt.Errorf("publish %s: %w", e.ID, err))
			return r.published(acked+n, start, err)
		}
		futures = append(futures, f)
	}
	n, err := r.await(ctx, futures[acked:], nil)
	return r.published(acked+n, start, err)
}

func (r *Relay) published(n int, start time.Time, err error) (int, error) {
	r.metrics.Published.Add(float64(n))
	r.metrics.BatchSeconds.Observe(time.Since(start).Seconds())
	return n, err
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

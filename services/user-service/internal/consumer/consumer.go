// Package consumer applies the IdP's events from the bus to the store: a durable pull consumer
// with explicit double acks. While the database is away events are held; an event that can never
// apply goes to a dead-letter subject at once, and one that fails otherwise after MaxDeliver
// attempts over a back-off.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/connectedbbq/platform/pkg/bus"
	"github.com/connectedbbq/platform/pkg/events"
	"github.com/connectedbbq/platform/pkg/tracing"
	"github.com/connectedbbq/platform/services/user-service/internal/store"
)

// Config of the consumer.
type Config struct {
	Stream     string
	Durable    string
	MaxDeliver int             // attempts before a message is dead-lettered
	BackOff    []time.Duration // wait before attempt n+1; the last value repeats
	AckWait    time.Duration
	// Heartbeat is the idle heartbeat asked of the server while a pull waits; two missed ones make the consumer
	// pull again. 0: nats.go's default (half the pull's 30 s expiry).
	Heartbeat time.Duration
	Workers   int // batches applied concurrently
	BatchSize int // events applied in one transaction, at most
	// Sources are the CloudEvent sources taken (our idp-hook's realm); an event of any other is dead-lettered.
	// Empty: any source.
	Sources []string
	// Tracer makes a span per event (child of the trace context it carries) and per transaction; nil: none.
	Tracer trace.TracerProvider
}

// Applier stores one event; store.Store is the real one.
type Applier interface {
	ApplyBatch(ctx context.Context, ds []events.Decoded) ([]store.Outcome, []error, error)
}

// Consumer is the user service's subscription to events.idp.>.
type Consumer struct {
	cfg     Config
	js      jetstream.JetStream
	store   Applier
	log     *slog.Logger
	metrics *Metrics
	tracer  trace.Tracer
}

// New returns a consumer.
func New(cfg Config, js jetstream.JetStream, s Applier, log *slog.Logger, m *Metrics) *Consumer {
	return &Consumer{cfg: cfg, js: js, store: s, log: log, metrics: m, tracer: tracing.Tracer(cfg.Tracer, "user-service/consumer")}
}

// Ensure creates or updates the durable consumer.
func (c *Consumer) Ensure(ctx context.Context) (jetstream.Consumer, error) {
	cons, err := c.js.CreateOrUpdateConsumer(ctx, c.cfg.Stream, jetstream.ConsumerConfig{
		Durable:       c.cfg.Durable,
		Description:   "user-service: applies IdP events to users and tenants",
		FilterSubject: events.IdPSubjects,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.cfg.AckWait,
		MaxDeliver:    c.cfg.MaxDeliver,
		MaxAckPending: 4 * c.cfg.Workers * c.cfg.BatchSize,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("ensure consumer %s: %w", c.cfg.Durable, err)
	}
	return cons, nil
}

// Run consumes until ctx ends, then stops fetching and finishes the messages it holds.
func (c *Consumer) Run(ctx context.Context) error {
	cons, err := c.Ensure(ctx)
	if err != nil {
		return err
	}
	opts := []jetstream.PullMessagesOpt{jetstream.PullMaxMessages(c.cfg.Workers * c.cfg.BatchSize)}
	if c.cfg.Heartbeat > 0 {
		opts = append(opts, jetstream.PullHeartbeat(c.cfg.Heartbeat))
	}
	it, err := cons.Messages(opts...)
	if err != nil {
		return fmt.Errorf("consume %s: %w", c.cfg.Durable, err)
	}
	go func() {
		<-ctx.Done()
		it.Drain()
	}()
	msgs := make(chan jetstream.Msg, c.cfg.BatchSize)
	batches := make(chan []jetstream.Msg)
	done := make(chan struct{}, c.cfg.Workers) // a worker never blocks on it, even after the dispatcher ends
	var wg sync.WaitGroup
	for range c.cfg.Workers {
		wg.Go(func() {
			for batch := range batches {
				c.handleBatch(ctx, batch)
				done <- struct{}{}
			}
		})
	}
	wg.Go(func() { dispatch(msgs, batches, done, c.cfg.Workers, c.cfg.BatchSize) })
	go c.watchLag(ctx, cons)
	for {
		msg, err := it.Next()
		if errors.Is(err, jetstream.ErrNoHeartbeat) {
			// The server's pull requests are gone (a partition, a leader moved): the iterator asks again.
			c.log.WarnContext(ctx, "no heartbeat from the stream's server; pulling again", "consumer", c.cfg.Durable)
			continue
		}
		if err != nil {
			close(msgs)
			wg.Wait()
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("consume %s: %w", c.cfg.Durable, err)
		}
		msgs <- msg
	}
}

// dispatch forms batches from in and hands them to the workers (out), learning from done that one finished.
// With no batch in flight, whatever waits goes at once: a lone event is never delayed. With some in flight,
// another starts only once a quarter of a batch waits (or the input has ended), so that at a moderate load
// events gather into a few larger transactions instead of many of one event each (each costs Postgres a
// commit, and the relay a drain), and under a high load every worker has a batch.
func dispatch[M any](in <-chan M, out chan<- []M, done <-chan struct{}, workers, size int) {
	defer close(out)
	var waiting []M
	inFlight, closed := 0, false
	for !closed || len(waiting) > 0 || inFlight > 0 {
		var send chan<- []M
		var next []M
		if len(waiting) > 0 && inFlight < workers && (inFlight == 0 || closed || len(waiting) >= max(size/4, 1)) {
			send, next = out, waiting[:min(len(waiting), size)]
		}
		var recv <-chan M
		if !closed && len(waiting) < workers*size {
			recv = in
		}
		select {
		case m, ok := <-recv:
			if !ok {
				closed = true
				continue
			}
			waiting = append(waiting, m)
		case send <- next:
			waiting = waiting[len(next):] // never written again: the batch is the worker's
			inFlight++
		case <-done:
			inFlight--
		}
	}
}

// pending is a message being handled, in the context of its span.
type pending struct {
	msg jetstream.Msg
	md  *jetstream.MsgMetadata
	ev  events.Decoded
	ctx context.Context
}

// handleBatch applies a batch in one transaction. Work in flight finishes even when ctx ends
// (graceful shutdown).
func (c *Consumer) handleBatch(ctx context.Context, batch []jetstream.Msg) {
	work := context.WithoutCancel(ctx)
	var ps []pending
	for _, msg := range batch {
		d, err := events.Decode(msg.Data())
		tp, _ := d.Event.Extensions()[events.TraceParentExtension].(string)
		mctx, span := c.tracer.Start(tracing.FromMessage(work, msg.Headers(), tp), "process "+msg.Subject(),
			trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(tracing.EventAttrs(msg.Subject(), d.Event.ID(), d.Event.Type())...))
		defer span.End()
		md, mdErr := msg.Metadata()
		if mdErr != nil {
			c.log.ErrorContext(mctx, "message without metadata", "subject", msg.Subject(), "err", mdErr)
			continue
		}
		if err != nil { // poison: no attempt will ever decode it
			c.deadLetter(mctx, msg, md, decodeReason(err), err)
			continue
		}
		if len(c.cfg.Sources) > 0 && !slices.Contains(c.cfg.Sources, d.Event.Source()) {
			c.deadLetter(mctx, msg, md, reasonUnknownSource, fmt.Errorf("event %s has source %q, not our idp-hook's %q",
				d.Event.ID(), d.Event.Source(), c.cfg.Sources))
			continue
		}
		// What the event causes (the outbox's events) carries this span's context.
		if tp := tracing.TraceParent(mctx); tp != "" {
			d.Event.SetExtension(events.TraceParentExtension, tp)
		}
		ps = append(ps, pending{msg: msg, md: md, ev: d, ctx: mctx})
	}
	if len(ps) > 0 {
		c.apply(ctx, work, ps)
	}
}

// startTx starts the span of one transaction over ps: a child of the first event's span, linked to the others'.
func (c *Consumer) startTx(work context.Context, ps []pending) (context.Context, trace.Span) {
	links := make([]trace.Link, 0, len(ps)-1)
	for _, p := range ps[1:] {
		links = append(links, trace.LinkFromContext(p.ctx))
	}
	_, span := c.tracer.Start(ps[0].ctx, "apply events", trace.WithLinks(links...),
		trace.WithAttributes(attribute.Int("messaging.batch.message_count", len(ps))))
	return trace.ContextWithSpan(work, span), span
}

// apply applies ps in one transaction, waiting out the database while it is away. ctx is the consumer's
// (it ends at shutdown), work the context the work in flight finishes in.
func (c *Consumer) apply(ctx, work context.Context, ps []pending) {
	ds := make([]events.Decoded, len(ps))
	for i, p := range ps {
		ds[i] = p.ev
	}
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		txCtx, span := c.startTx(work, ps)
		applyCtx, cancel := context.WithTimeout(txCtx, 30*time.Second)
		outcomes, errs, err := c.store.ApplyBatch(applyCtx, ds)
		cancel()
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
		if err == nil {
			c.settle(work, ps, outcomes, errs)
			return
		}
		// While the database is away, hold the messages instead of spending their attempts.
		if store.IsTransient(err) && ctx.Err() == nil {
			c.log.WarnContext(ps[0].ctx, "database unavailable or busy; holding events", "events", len(ps), "err", err, "retry_in", wait)
			for _, p := range ps {
				_ = p.msg.InProgress()
			}
			time.Sleep(wait)
			continue
		}
		if store.IsTransient(err) || len(ps) == 1 {
			for _, p := range ps {
				c.fail(p.ctx, p.msg, p.md, c.log, err)
			}
			return
		}
		// The transaction failed as a whole, not one of its events: apply each alone to charge the one at fault.
		for _, p := range ps {
			c.apply(ctx, work, []pending{p})
		}
		return
	}
}

// settle acknowledges what was applied and retries or dead-letters what failed.
func (c *Consumer) settle(ctx context.Context, ps []pending, outcomes []store.Outcome, errs []error) {
	var wg sync.WaitGroup
	for i, p := range ps {
		if errs[i] != nil {
			c.fail(p.ctx, p.msg, p.md, c.log.With("event_id", p.ev.Event.ID(), "type", p.ev.Event.Type(), "user_id", p.ev.Event.Subject()), errs[i])
			continue
		}
		c.metrics.Applied.WithLabelValues(string(outcomes[i])).Inc()
		c.metrics.Latency.Observe(time.Since(p.ev.Event.Time()).Seconds())
		wg.Go(func() {
			if err := p.msg.DoubleAck(ctx); err != nil {
				c.log.WarnContext(p.ctx, "ack not confirmed; the event will be redelivered and found in the inbox", "event_id", p.ev.Event.ID(), "err", err)
			}
		})
	}
	wg.Wait()
}

// fail dead-letters an event that can never apply at once, and retries any other after a back-off until it
// has had MaxDeliver attempts.
func (c *Consumer) fail(ctx context.Context, msg jetstream.Msg, md *jetstream.MsgMetadata, log *slog.Logger, cause error) {
	trace.SpanFromContext(ctx).SetStatus(codes.Error, cause.Error())
	if reason := store.PermanentReason(cause); reason != "" {
		c.deadLetter(ctx, msg, md, reason, cause)
		return
	}
	if int(md.NumDelivered) >= c.cfg.MaxDeliver {
		c.deadLetter(ctx, msg, md, reasonMaxDeliver, cause)
		return
	}
	delay := c.backoff(int(md.NumDelivered))
	log.WarnContext(ctx, "event failed; will retry", "err", cause, "retry_in", delay)
	c.metrics.Applied.WithLabelValues("failed").Inc()
	if err := msg.NakWithDelay(delay); err != nil {
		log.WarnContext(ctx, "nak failed; redelivery after the ack wait", "err", err)
	}
}

func (c *Consumer) backoff(delivered int) time.Duration {
	if len(c.cfg.BackOff) == 0 {
		return time.Second
	}
	return c.cfg.BackOff[min(delivered-1, len(c.cfg.BackOff)-1)]
}

// deadLetter moves msg to deadletter.<durable>.<subject> with the error and its reason, then terminates it.
// If the dead-letter publish fails the message is redelivered instead: it is never dropped.
func (c *Consumer) deadLetter(ctx context.Context, msg jetstream.Msg, md *jetstream.MsgMetadata, reason string, cause error) {
	dl := nats.NewMsg(bus.DeadLetterSubject(c.cfg.Durable, msg.Subject()))
	dl.Data = msg.Data()
	for k, v := range msg.Headers() {
		dl.Header[k] = v
	}
	dl.Header.Set(bus.HeaderDeadLetterError, headerValue(cause.Error()))
	dl.Header.Set(bus.HeaderDeadLetterReason, reason)
	dl.Header.Set(bus.HeaderDeadLetterSubject, msg.Subject())
	dl.Header.Set(bus.HeaderDeadLetterSeq, strconv.FormatUint(md.Sequence.Stream, 10))
	dl.Header.Set(bus.HeaderDeadLetterDeliveries, strconv.FormatUint(md.NumDelivered, 10))
	dl.Header.Del(jetstream.MsgIDHeader)
	pubCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := c.js.PublishMsg(pubCtx, dl, jetstream.WithMsgID(c.cfg.Durable+"-"+strconv.FormatUint(md.Sequence.Stream, 10))); err != nil {
		c.log.ErrorContext(ctx, "dead-letter publish failed; the event will be redelivered", "subject", msg.Subject(), "err", err)
		_ = msg.NakWithDelay(c.backoff(int(md.NumDelivered)))
		return
	}
	c.metrics.DeadLetters.WithLabelValues(reason).Inc()
	trace.SpanFromContext(ctx).SetStatus(codes.Error, "dead-lettered: "+reason)
	c.log.ErrorContext(ctx, "event dead-lettered", "subject", msg.Subject(), "stream_seq", md.Sequence.Stream, "deliveries", md.NumDelivered,
		"reason", reason, "err", cause)
	if err := msg.Term(); err != nil {
		c.log.WarnContext(ctx, "term failed", "err", err)
	}
}

func (c *Consumer) watchLag(ctx context.Context, cons jetstream.Consumer) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		info, err := cons.Info(ctx)
		if err != nil {
			continue
		}
		c.metrics.Lag.Set(float64(info.NumPending + uint64(info.NumAckPending)))
	}
}

// Metrics of the consumer.
type Metrics struct {
	Applied     *prometheus.CounterVec
	DeadLetters *prometheus.CounterVec
	Lag         prometheus.Gauge
	Latency     prometheus.Histogram
}

// NewMetrics registers the consumer's metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Applied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bbq_users_events_applied_total",
			Help: "IdP events handled, by outcome (announced, updated, unchanged, duplicate, failed)."}, []string{"outcome"}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bbq_users_dead_letters_total",
			Help: "Events moved to the dead-letter stream, by reason (" + strings.Join(deadLetterReasons(), ", ") + ")."}, []string{"reason"}),
		Lag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "bbq_users_consumer_lag",
			Help: "IdP events not yet acknowledged by the user service (pending + in flight)."}),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "bbq_users_event_age_seconds",
			Help: "Age of an IdP event when the user service has applied it.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
	}
	for _, r := range deadLetterReasons() { // every reason exists at 0, so that alerts see the first one
		m.DeadLetters.WithLabelValues(r)
	}
	reg.MustRegister(m.Applied, m.DeadLetters, m.Lag, m.Latency)
	return m
}

// Reasons of dead letters besides the store's permanent ones (store.PermanentReason).
const (
	reasonUndecodable = "undecodable"  // not a CloudEvent with a payload we read
	reasonUnknownType = "unknown_type" // a CloudEvent of a type this version does not know
	reasonMaxDeliver  = "max_deliver"  // an error we cannot place, still failing after MaxDeliver attempts
	// reasonUnknownSource: a CloudEvent whose source is not our idp-hook's (another realm, or a publisher that
	// is not idp-hook)
	reasonUnknownSource = "unknown_source"
)

// deadLetterReasons is the fixed set of values of the reason label.
func deadLetterReasons() []string {
	return []string{reasonUndecodable, reasonUnknownType, reasonUnknownSource, store.ReasonInvalidEvent, store.ReasonInvalidData,
		store.ReasonConstraint, store.ReasonSchema, reasonMaxDeliver}
}

func decodeReason(err error) string {
	if errors.Is(err, events.ErrUnknownType) {
		return reasonUnknownType
	}
	return reasonUndecodable
}

// headerValue makes an error message safe for a NATS header: errors can quote what an event carried,
// which skipped idp-hook's checks if it was published on the bus directly (CR LF would forge headers).
func headerValue(s string) string {
	const limit = 1024
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) > limit {
		s = strings.ToValidUTF8(s[:limit], "") + "…"
	}
	return s
}

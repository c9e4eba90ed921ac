// Package reconcile makes the bus complete even when webhooks were lost: it reads the events that
// Keycloak stored, from a checkpoint kept in JetStream KV, and publishes them with the same
// CloudEvent ids as the webhook did, so what was already published is dropped as a duplicate
// (by the bus within its window, by consumers' inboxes after it). Backfill adopts the users an
// existing Keycloak already has.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/connectedbbq/platform/pkg/events"
	"github.com/connectedbbq/platform/pkg/keycloak"
	"github.com/connectedbbq/platform/services/idp-hook/internal/kcevent"
)

// Keycloak is the part of the admin API the reconciler reads.
type Keycloak interface {
	Realm() string
	Events(ctx context.Context, q keycloak.EventQuery) ([]keycloak.Event, error)
	AdminEvents(ctx context.Context, q keycloak.AdminEventQuery) ([]keycloak.AdminEvent, error)
	ListUsers(ctx context.Context, first, max int) ([]keycloak.User, error)
}

// Publisher stores an event on the bus.
type Publisher interface {
	Publish(ctx context.Context, subject string, ev cloudevents.Event) (*jetstream.PubAck, error)
}

// UserEventTypes are the Keycloak user events the platform maps.
var UserEventTypes = []string{"REGISTER", "VERIFY_EMAIL", "UPDATE_PROFILE", "UPDATE_EMAIL", "DELETE_ACCOUNT"}

// Reconciler replays Keycloak's stored events.
type Reconciler struct {
	kc      Keycloak
	pub     Publisher
	kv      jetstream.KeyValue
	log     *slog.Logger
	overlap time.Duration // re-read before the checkpoint: events stored late, clocks apart
	page    int
	metrics *Metrics
}

// New returns a Reconciler keeping its checkpoints in kv.
func New(kc Keycloak, pub Publisher, kv jetstream.KeyValue, log *slog.Logger, m *Metrics, overlap time.Duration) *Reconciler {
	return &Reconciler{kc: kc, pub: pub, kv: kv, log: log, overlap: overlap, page: 100, metrics: m}
}

// EnsureBucket creates the KV bucket of checkpoints.
func EnsureBucket(ctx context.Context, js jetstream.JetStream, name string, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, Description: "idp-hook reconciliation checkpoints",
		Storage: jetstream.FileStorage, Replicas: replicas, History: 1})
	if err != nil {
		return nil, fmt.Errorf("checkpoint bucket %s: %w", name, err)
	}
	return kv, nil
}

// Run reconciles every interval until ctx ends.
func (r *Reconciler) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := r.Pass(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("reconciliation pass failed; next pass retries", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Pass publishes every stored event since the checkpoints and advances them; it returns how many
// events were new to the bus.
func (r *Reconciler) Pass(ctx context.Context) (int, error) {
	a, err := r.passUserEvents(ctx)
	if err != nil {
		return a, err
	}
	b, err := r.passAdminEvents(ctx)
	return a + b, err
}

func (r *Reconciler) passUserEvents(ctx context.Context) (int, error) {
	key := "events." + r.kc.Realm()
	since, err := r.checkpoint(ctx, key)
	if err != nil {
		return 0, err
	}
	newest, published := since, 0
	for first := 0; ; first += r.page {
		evs, err := r.kc.Events(ctx, keycloak.EventQuery{Since: since.Add(-r.overlap), Types: UserEventTypes, First: first, Max: r.page, Ascending: true})
		if err != nil {
			return published, fmt.Errorf("read stored events: %w", err)
		}
		for _, e := range evs {
			m, err := kcevent.MapEvent(kcevent.Event{ID: e.ID, Time: e.Time, Type: e.Type, RealmID: e.RealmID, ClientID: e.ClientID,
				UserID: e.UserID, SessionID: e.SessionID, IPAddress: e.IPAddress, Error: e.Error, Details: e.Details})
			n, err := r.publish(ctx, m, err)
			if err != nil {
				return published, err
			}
			published += n
			newest = later(newest, e.Time)
		}
		if len(evs) < r.page {
			break
		}
	}
	return published, r.save(ctx, key, newest)
}

func (r *Reconciler) passAdminEvents(ctx context.Context) (int, error) {
	key := "admin-events." + r.kc.Realm()
	since, err := r.checkpoint(ctx, key)
	if err != nil {
		return 0, err
	}
	newest, published := since, 0
	for first := 0; ; first += r.page {
		evs, err := r.kc.AdminEvents(ctx, keycloak.AdminEventQuery{Since: since.Add(-r.overlap), ResourceTypes: []string{"USER"},
			OperationTypes: []string{"CREATE", "UPDATE", "DELETE"}, First: first, Max: r.page, Ascending: true})
		if err != nil {
			return published, fmt.Errorf("read stored admin events: %w", err)
		}
		for _, e := range evs {
			m, err := kcevent.MapAdminEvent(kcevent.AdminEvent{ID: e.ID, Time: e.Time, RealmID: e.RealmID, OperationType: e.OperationType,
				ResourceType: e.ResourceType, ResourcePath: e.ResourcePath, Representation: e.Representation, Error: e.Error})
			n, err := r.publish(ctx, m, err)
			if err != nil {
				return published, err
			}
			published += n
			newest = later(newest, e.Time)
		}
		if len(evs) < r.page {
			break
		}
	}
	return published, r.save(ctx, key, newest)
}

// publish sends one mapped event; events the mapper ignores or refuses are skipped (they were
// refused the same way when the webhook brought them).
func (r *Reconciler) publish(ctx context.Context, m kcevent.Mapped, mapErr error) (int, error) {
	if mapErr != nil {
		if !errors.Is(mapErr, kcevent.ErrIgnored) {
			r.log.Warn("stored event cannot be mapped; skipped", "error", mapErr)
		}
		return 0, nil
	}
	m.Meta.TraceParent = events.NewTraceParent()
	ev, err := events.New(m.Kind, m.Meta, m.Data)
	if err != nil {
		r.log.Warn("stored event is not a valid CloudEvent; skipped", "error", err)
		return 0, nil
	}
	ack, err := r.pub.Publish(ctx, m.Kind.Subject, ev)
	if err != nil {
		return 0, err
	}
	if ack.Duplicate {
		r.metrics.Events.WithLabelValues("duplicate").Inc()
		return 0, nil
	}
	r.metrics.Events.WithLabelValues("recovered").Inc()
	r.log.Info("published an event the webhook had missed", "event_id", ev.ID(), "type", ev.Type(), "user_id", ev.Subject())
	return 1, nil
}

func later(t time.Time, millis int64) time.Time {
	if e := time.UnixMilli(millis); e.After(t) {
		return e
	}
	return t
}

func (r *Reconciler) checkpoint(ctx context.Context, key string) (time.Time, error) {
	e, err := r.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return time.Time{}, nil // first pass: everything Keycloak kept
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read checkpoint %s: %w", key, err)
	}
	ms, err := strconv.ParseInt(string(e.Value()), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("checkpoint %s is %q: %w", key, e.Value(), err)
	}
	return time.UnixMilli(ms), nil
}

func (r *Reconciler) save(ctx context.Context, key string, t time.Time) error {
	if t.IsZero() {
		return nil
	}
	if _, err := r.kv.Put(ctx, key, []byte(strconv.FormatInt(t.UnixMilli(), 10))); err != nil {
		return fmt.Errorf("save checkpoint %s: %w", key, err)
	}
	r.metrics.Checkpoint.WithLabelValues(key).Set(float64(t.Unix()))
	return nil
}

// Backfill publishes a registration for every user of the realm; it returns how many users it
// walked and how many registrations were new to the bus.
func Backfill(ctx context.Context, kc Keycloak, pub Publisher, log *slog.Logger) (walked, published int, err error) {
	const page = 100
	for first := 0; ; first += page {
		users, err := kc.ListUsers(ctx, first, page)
		if err != nil {
			return walked, published, fmt.Errorf("list users from %d: %w", first, err)
		}
		for _, u := range users {
			m := kcevent.Backfill(kc.Realm(), u.ID, u.Username, u.Email, u.FirstName, u.LastName, u.EmailVerified, u.CreatedTimestamp)
			ev, err := events.New(m.Kind, m.Meta, m.Data)
			if err != nil {
				log.Warn("user cannot be backfilled; skipped", "user_id", u.ID, "error", err)
				continue
			}
			ack, err := pub.Publish(ctx, m.Kind.Subject, ev)
			if err != nil {
				return walked, published, err
			}
			walked++
			if !ack.Duplicate {
				published++
			}
		}
		if len(users) < page {
			return walked, published, nil
		}
	}
}

// Metrics of reconciliation.
type Metrics struct {
	Events     *prometheus.CounterVec
	Checkpoint *prometheus.GaugeVec
}

// NewMetrics registers the reconciler's metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bbq_idphook_reconciled_events_total",
			Help: "Stored Keycloak events replayed by reconciliation: recovered (the webhook had missed them) or duplicate."}, []string{"outcome"}),
		Checkpoint: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "bbq_idphook_reconcile_checkpoint_seconds",
			Help: "Time of the newest stored event reconciled, per checkpoint."}, []string{"checkpoint"}),
	}
	reg.MustRegister(m.Events, m.Checkpoint)
	return m
}

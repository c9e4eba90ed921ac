// Package reconcile makes the bus complete even when webhooks were lost: it reads the events that
// Keycloak stored, from a checkpoint kept in JetStream KV, and publishes them with the same
// CloudEvent ids as the webhook did, so what was already published is dropped as a duplicate
// (by the bus within its window, by consumers' inboxes after it). Backfill adopts the users an
// existing Keycloak already has.
package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/connectedbbq/platform/pkg/events"
	eventsv1 "github.com/connectedbbq/platform/pkg/gen/bbq/events/v1"
	"github.com/connectedbbq/platform/pkg/keycloak"
	"github.com/connectedbbq/platform/services/idp-hook/internal/kcevent"
)

// Keycloak is the part of the admin API the reconciler reads.
type Keycloak interface {
	Realm() string
	Events(ctx context.Context, q keycloak.EventQuery) ([]keycloak.Event, error)
	AdminEvents(ctx context.Context, q keycloak.AdminEventQuery) ([]keycloak.AdminEvent, error)
	ListUsersBrief(ctx context.Context, first, max int) ([]keycloak.User, error)
	GetUser(ctx context.Context, id string) (keycloak.User, error)
}

// Publisher stores an event on the bus.
type Publisher interface {
	Publish(ctx context.Context, subject string, ev cloudevents.Event) (*jetstream.PubAck, error)
}

// Reconciler replays Keycloak's stored events.
type Reconciler struct {
	kc      Keycloak
	pub     Publisher
	kv      jetstream.KeyValue
	log     *slog.Logger
	overlap time.Duration // re-read before the checkpoint: events stored late, clocks apart
	settle  time.Duration // replay only events at least this old (see New)
	page    int
	maxSeen int
	metrics *Metrics
	now     func() time.Time
}

// Config of a Reconciler.
type Config struct {
	Overlap time.Duration // re-read before the checkpoint: events stored late, clocks apart
	Settle  time.Duration // replay only events at least this old (see New)
	MaxSeen int           // event ids a checkpoint keeps (0: 5,000); a burst beyond them is only listed again
}

// eventPage is how many stored events a pass lists per request. A page is listed, its users' states read
// (stateChunk per request, prefetchReaders requests at once) and its events published before the next page is
// listed, so after an outage each page costs a few round trips to Keycloak whatever its size: at 100 events,
// those round trips bounded the catch-up (about 130 ms a page, 700 users/s).
const eventPage = 1000

// New returns a Reconciler keeping its checkpoints in kv.
//
// Settle is how old a stored event must be before it is replayed: the webhook's copy of an event carries the
// state at its commit, the stored one does not, and both have the same id, so the first on the bus is the one
// applied. Waiting settle lets the webhook's copy win whenever it comes at all.
func New(cfg Config, kc Keycloak, pub Publisher, kv jetstream.KeyValue, log *slog.Logger, m *Metrics) *Reconciler {
	return &Reconciler{kc: kc, pub: pub, kv: kv, log: log, overlap: cfg.Overlap, settle: cfg.Settle, page: eventPage, maxSeen: cfg.MaxSeen, metrics: m, now: time.Now}
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
	st := newStates(r.kc, r.now)
	a, err := r.passUserEvents(ctx, st)
	if err != nil {
		return a, err
	}
	b, err := r.passAdminEvents(ctx, st)
	if err == nil { // a quiet realm moves no checkpoint: this is what tells a stuck reconciler from an idle one
		r.metrics.LastPass.Set(float64(r.now().Unix()))
	}
	return a + b, err
}

func (r *Reconciler) passUserEvents(ctx context.Context, st *states) (int, error) {
	q := newPageReplay()
	w := walker[keycloak.Event]{page: r.page, overlap: r.overlap, until: r.until(), maxSeen: r.maxSeen,
		fetch: func(ctx context.Context, from, to int64, max int) ([]keycloak.Event, error) {
			evs, err := r.kc.Events(ctx, keycloak.EventQuery{Since: time.UnixMilli(from), Until: until(to),
				Types: kcevent.UserEventTypes(), Max: max, Ascending: true})
			if err != nil {
				return nil, fmt.Errorf("read stored events: %w", err)
			}
			return evs, nil
		},
		key: func(e keycloak.Event) (string, int64) { return e.ID, e.Time },
		ahead: func(evs []keycloak.Event) {
			st.page(ctx, collect(evs, func(e keycloak.Event) (stamped, bool) {
				return stamped{e.UserID, e.ID, e.Time}, userEventStateless(e)
			}))
		},
		visit: func(e keycloak.Event) error {
			q.add(e.UserID, func() (int, error) { return r.replayEvent(ctx, st, e) })
			return nil
		},
		flush: q.run,
	}
	err := r.walk(ctx, "events."+r.kc.Realm(), w.walk)
	return q.published, err
}

func (r *Reconciler) passAdminEvents(ctx context.Context, st *states) (int, error) {
	q := newPageReplay()
	w := walker[keycloak.AdminEvent]{page: r.page, overlap: r.overlap, until: r.until(), maxSeen: r.maxSeen,
		fetch: r.adminEvents(),
		key:   func(e keycloak.AdminEvent) (string, int64) { return e.ID, e.Time },
		ahead: func(evs []keycloak.AdminEvent) {
			st.page(ctx, collect(evs, func(e keycloak.AdminEvent) (stamped, bool) {
				user, stateless := adminEventUser(e)
				return stamped{user, e.ID, e.Time}, stateless
			}))
		},
		visit: func(e keycloak.AdminEvent) error {
			user, _ := adminEventUser(e)
			q.add(user, func() (int, error) { return r.replayAdminEvent(ctx, st, e) })
			return nil
		},
		flush: q.run,
	}
	err := r.walk(ctx, "admin-events."+r.kc.Realm(), w.walk)
	return q.published, err
}

// AdminEventLister lists stored admin events on users as their columns (keycloak.Client is one, through the bbq
// provider's GET bbq/admin-events): Keycloak's own list builds each through its model, which cost it more than
// anything else the reconciler asks after an outage.
type AdminEventLister interface {
	StoredAdminEvents(ctx context.Context, since, until time.Time, max int) ([]keycloak.AdminEvent, error)
}

// adminEvents lists stored admin events on users for one pass: through the provider's list, or Keycloak's where
// the provider has none (an older one; asked again next pass) or the page is larger than it serves.
func (r *Reconciler) adminEvents() fetchFunc[keycloak.AdminEvent] {
	lister, lean := r.kc.(AdminEventLister)
	return func(ctx context.Context, from, to int64, max int) ([]keycloak.AdminEvent, error) {
		since, upTo := time.UnixMilli(from), until(to)
		if lean && max <= keycloak.MaxStoredAdminEvents {
			evs, err := lister.StoredAdminEvents(ctx, since, upTo, max)
			if err == nil {
				return evs, nil
			}
			if !errors.Is(err, keycloak.ErrNoAdminEventsEndpoint) {
				return nil, fmt.Errorf("read stored admin events: %w", err)
			}
			lean = false
		}
		evs, err := r.kc.AdminEvents(ctx, keycloak.AdminEventQuery{Since: since, Until: upTo,
			ResourceTypes: []string{"USER"}, OperationTypes: []string{"CREATE", "UPDATE", "DELETE", "ACTION"}, Max: max, Ascending: true})
		if err != nil {
			return nil, fmt.Errorf("read stored admin events: %w", err)
		}
		return evs, nil
	}
}

// pageSenders is how many users' replays of a page run at once: each publish waits for its PubAck, so one
// at a time the page's publishes were the reconciler's own cost after an outage.
const pageSenders = 16

// pageReplay queues a page's replays per user and runs them when the page ends: each user's in order (the
// bus keeps one subject's events in the order published), pageSenders users at a time.
type pageReplay struct {
	users     []string
	queued    map[string][]func() (int, error)
	published int
}

func newPageReplay() *pageReplay { return &pageReplay{queued: map[string][]func() (int, error){}} }

func (p *pageReplay) add(user string, replay func() (int, error)) {
	if _, ok := p.queued[user]; !ok {
		p.users = append(p.users, user)
	}
	p.queued[user] = append(p.queued[user], replay)
}

// run replays what is queued and empties the queue; it returns the first error (a user's later replays
// are then skipped, the walker counts none of the page as done, and the next pass replays it again).
func (p *pageReplay) run() error {
	var g errgroup.Group
	g.SetLimit(pageSenders)
	var mu sync.Mutex
	for _, user := range p.users {
		replays := p.queued[user]
		g.Go(func() error {
			for _, replay := range replays {
				n, err := replay()
				mu.Lock()
				p.published += n
				mu.Unlock()
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	err := g.Wait()
	p.users, p.queued = nil, map[string][]func() (int, error){}
	return err
}

// until is the newest event time this pass replays (see New).
func (r *Reconciler) until() int64 {
	if r.settle <= 0 {
		return 0
	}
	return r.now().Add(-r.settle).UnixMilli()
}

// walk runs one stream from its checkpoint and saves where it got to, also when it stopped on an error.
// The save is a compare-and-set on the revision read: should two replicas ever both pass (a leader that lost
// its lease mid-pass), the later save fails instead of moving the checkpoint back.
func (r *Reconciler) walk(ctx context.Context, key string, walk func(context.Context, Checkpoint) (Checkpoint, error)) error {
	cp, rev, err := r.checkpoint(ctx, key)
	if err != nil {
		return err
	}
	next, err := walk(ctx, cp)
	return errors.Join(err, r.save(ctx, key, rev, next))
}

func until(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

func (r *Reconciler) replayEvent(ctx context.Context, st *states, e keycloak.Event) (int, error) {
	// The realm is named as configured (the admin API's path), never by the stored event's realmId: a realm's
	// id is a UUID unless it was imported with one, and the CloudEvent source the consumers accept is the name.
	ev := kcevent.Event{ID: e.ID, Time: e.Time, Type: e.Type, RealmID: e.RealmID, RealmName: r.kc.Realm(), ClientID: e.ClientID,
		UserID: e.UserID, SessionID: e.SessionID, IPAddress: e.IPAddress, Error: e.Error, Details: e.Details}
	return r.replay(ctx, st, e.UserID, userEventStateless(e), func(s *eventsv1.UserState) (kcevent.Mapped, error) {
		return kcevent.MapEventState(ev, s)
	})
}

func (r *Reconciler) replayAdminEvent(ctx context.Context, st *states, e keycloak.AdminEvent) (int, error) {
	ev := kcevent.AdminEvent{ID: e.ID, Time: e.Time, RealmID: e.RealmID, RealmName: r.kc.Realm(), OperationType: e.OperationType,
		ResourceType: e.ResourceType, ResourcePath: e.ResourcePath, Representation: e.Representation, Error: e.Error}
	userID, deletion := adminEventUser(e)
	return r.replay(ctx, st, userID, deletion, func(s *eventsv1.UserState) (kcevent.Mapped, error) {
		return kcevent.MapAdminEventState(ev, s)
	})
}

// userEventStateless says whether replaying the stored event publishes no state beside it (see replay).
func userEventStateless(e keycloak.Event) bool { return e.Type == "DELETE_ACCOUNT" || e.Error != "" }

// adminEventUser is the user a stored admin event is about, and whether replaying it publishes no state.
func adminEventUser(e keycloak.AdminEvent) (userID string, stateless bool) {
	userID = kcevent.AdminEvent{ResourceType: e.ResourceType, ResourcePath: e.ResourcePath}.UserID()
	return userID, e.Error != "" || (e.OperationType == "DELETE" && e.ResourcePath == "users/"+userID)
}

// collect is the events of evs whose replay reads their user's state.
func collect[E any](evs []E, stamp func(E) (stamped, bool)) []stamped {
	out := make([]stamped, 0, len(evs))
	for _, e := range evs {
		if s, stateless := stamp(e); !stateless && s.user != "" {
			out = append(out, s)
		}
	}
	return out
}

// replay publishes one stored event about userID as it was, without a state, then (once per user and page)
// the state Keycloak holds now as an event of its own, named after the user's newest event of the page, or the user's deletion when the admin API no longer
// has it. The stored event keeps its Keycloak id, which the webhook's copy has too: whichever reaches the bus
// first is the one applied, so a state read now must never travel under that id, or a late confirming state
// (the webhook's) would be dropped as a duplicate of a copy that says the account is no longer confirmed.
func (r *Reconciler) replay(ctx context.Context, st *states, userID string, stateless bool,
	mapWith func(*eventsv1.UserState) (kcevent.Mapped, error)) (int, error) {
	m, err := mapWith(nil)
	n, err := r.publish(ctx, m, err)
	if err != nil || stateless || userID == "" {
		return n, err
	}
	state, gone, first, err := st.get(ctx, userID)
	if err != nil || !first {
		return n, err
	}
	if gone {
		g, err := r.publishGone(ctx, st, userID)
		return n + g, err
	}
	o, err := r.publish(ctx, kcevent.Observed(r.kc.Realm(), userID, st.after(userID), state), nil)
	return n + o, err
}

// publishGone reports a user the admin API no longer knows as deleted (once per pass): its deletion event
// may have expired from Keycloak's store or never been stored. Keycloak never reuses a user id.
func (r *Reconciler) publishGone(ctx context.Context, st *states, userID string) (int, error) {
	if !st.reportGone(userID) {
		return 0, nil
	}
	return r.publish(ctx, kcevent.Gone(r.kc.Realm(), userID, st.now()), nil)
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

// checkpoint reads a stream's checkpoint and its KV revision (0: none yet).
func (r *Reconciler) checkpoint(ctx context.Context, key string) (Checkpoint, uint64, error) {
	e, err := r.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Checkpoint{}, 0, nil // first pass: everything Keycloak kept
	}
	if err != nil {
		return Checkpoint{}, 0, fmt.Errorf("read checkpoint %s: %w", key, err)
	}
	cp, err := parseCheckpoint(e.Value())
	if err != nil {
		return Checkpoint{}, 0, fmt.Errorf("read checkpoint %s: %w", key, err)
	}
	return cp, e.Revision(), nil
}

// save stores cp if the checkpoint is still at revision rev.
func (r *Reconciler) save(ctx context.Context, key string, rev uint64, cp Checkpoint) error {
	if cp.Time == 0 {
		return nil
	}
	b, err := json.Marshal(cp)
	if err != nil {
		return fmt.Errorf("encode checkpoint %s: %w", key, err)
	}
	if rev == 0 {
		_, err = r.kv.Create(ctx, key, b)
	} else {
		_, err = r.kv.Update(ctx, key, b, rev)
	}
	if err != nil {
		return fmt.Errorf("save checkpoint %s (another pass saved first?): %w", key, err)
	}
	r.metrics.Checkpoint.WithLabelValues(key).Set(float64(time.UnixMilli(cp.Time).Unix()))
	return nil
}

// Metrics of reconciliation.
type Metrics struct {
	Events     *prometheus.CounterVec
	Checkpoint *prometheus.GaugeVec
	LastPass   prometheus.Gauge
}

// NewMetrics registers the reconciler's metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bbq_idphook_reconciled_events_total",
			Help: "Stored Keycloak events replayed by reconciliation: recovered (the webhook had missed them) or duplicate."}, []string{"outcome"}),
		Checkpoint: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "bbq_idphook_reconcile_checkpoint_seconds",
			Help: "Time of the newest stored event reconciled, per checkpoint."}, []string{"checkpoint"}),
		LastPass: prometheus.NewGauge(prometheus.GaugeOpts{Name: "bbq_idphook_reconcile_last_pass_seconds",
			Help: "Time the last complete reconciliation pass ended (0: none yet)."}),
	}
	reg.MustRegister(m.Events, m.Checkpoint, m.LastPass)
	return m
}

// Package sweep brings users left pending in line with Keycloak. Some paths to a confirmed account send no
// event that says so (a brokered first sign-in with a trusted email reports only the email; an older
// provider attaches no state), so a user pending for longer than Config.After is read from Keycloak's admin
// API and that state is applied through the same domain code as every event (id sweep-<user>-<unixms>).
package sweep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectedbbq/platform/pkg/events"
	eventsv1 "github.com/connectedbbq/platform/pkg/gen/bbq/events/v1"
	"github.com/connectedbbq/platform/pkg/keycloak"
	"github.com/connectedbbq/platform/services/user-service/internal/store"
)

// Config of the sweep.
type Config struct {
	After    time.Duration // a user pending this long is read from Keycloak (then once per After)
	Interval time.Duration // between rounds; default After/2, at most a minute
	Batch    int           // users per round; default 100
	Realm    string        // for users whose row has no realm yet
}

func (c Config) withDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = max(min(c.After/2, time.Minute), time.Millisecond)
	}
	if c.Batch <= 0 {
		c.Batch = 100
	}
	return c
}

// Users is the part of the Keycloak admin API the sweep reads.
type Users interface {
	GetUser(ctx context.Context, id string) (keycloak.User, error)
}

// Store is what the sweep needs of the repository.
type Store interface {
	ClaimPending(ctx context.Context, olderThan time.Duration, limit int) ([]store.PendingUser, error)
	ApplyBatch(ctx context.Context, ds []events.Decoded) ([]store.Outcome, []error, error)
}

// Sweeper runs the rounds.
type Sweeper struct {
	cfg   Config
	store Store
	users Users
	log   *slog.Logger
	swept *prometheus.CounterVec
}

// New returns a Sweeper.
func New(cfg Config, s Store, users Users, log *slog.Logger, reg prometheus.Registerer) *Sweeper {
	w := &Sweeper{cfg: cfg.withDefaults(), store: s, users: users, log: log,
		swept: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bbq_users_pending_swept_total",
			Help: "Pending users read from Keycloak by the sweep, by outcome (announced, updated, unchanged, duplicate, failed)."}, []string{"outcome"})}
	reg.MustRegister(w.swept)
	return w
}

// Run sweeps until ctx ends.
func (w *Sweeper) Run(ctx context.Context) error {
	t := time.NewTicker(w.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if _, err := w.Round(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("pending sweep failed; next round retries", "error", err)
		}
	}
}

// Round reads the due pending users from Keycloak and applies their states; it returns how many it applied.
func (w *Sweeper) Round(ctx context.Context) (int, error) {
	pending, err := w.store.ClaimPending(ctx, w.cfg.After, w.cfg.Batch)
	if err != nil || len(pending) == 0 {
		return 0, err
	}
	var ds []events.Decoded
	for _, p := range pending {
		d, err := w.read(ctx, p)
		if err != nil {
			w.swept.WithLabelValues("failed").Inc()
			w.log.Warn("pending sweep: cannot read user; next period retries", "user_id", p.ID, "error", err)
			continue
		}
		ds = append(ds, d)
	}
	if len(ds) == 0 {
		return 0, nil
	}
	outcomes, errs, err := w.store.ApplyBatch(ctx, ds)
	if err != nil {
		return 0, fmt.Errorf("apply swept states: %w", err)
	}
	applied := 0
	for i, o := range outcomes {
		if errs[i] != nil {
			w.swept.WithLabelValues("failed").Inc()
			w.log.Warn("pending sweep: state not applied", "user_id", ds[i].Event.Subject(), "error", errs[i])
			continue
		}
		applied++
		w.swept.WithLabelValues(string(o)).Inc()
	}
	return applied, nil
}

const readMargin = 2 * time.Second

// read turns the user as Keycloak holds it now into the event the domain applies: its state, or its
// deletion when Keycloak no longer has it.
func (w *Sweeper) read(ctx context.Context, p store.PendingUser) (events.Decoded, error) {
	realm := p.Realm
	if realm == "" {
		realm = w.cfg.Realm
	}
	u, err := w.users.GetUser(ctx, p.ID)
	now := time.Now()
	var k events.Kind
	var data proto.Message
	switch {
	case errors.Is(err, keycloak.ErrNotFound):
		k, data = events.IdPUserDeleted, &eventsv1.UserDeleted{UserId: p.ID, Realm: realm}
	case err != nil:
		return events.Decoded{}, fmt.Errorf("read user %s from keycloak: %w", p.ID, err)
	default:
		// Dated a little before the read, as idp-hook's reconciler does: Keycloak dates an event before its
		// transaction commits, and a read in between must not outrank the state that event carries.
		k, data = events.UserStateChanged, &eventsv1.UserStateChanged{UserId: p.ID, Realm: realm, Cause: "sweep",
			State: State(u, now.Add(-readMargin))}
	}
	ev, err := events.New(k, events.Meta{ID: fmt.Sprintf("sweep-%s-%d", p.ID, now.UnixMilli()), Source: events.IdPSource(realm),
		Subject: p.ID, Time: now, TraceParent: events.NewTraceParent()}, data)
	if err != nil {
		return events.Decoded{}, err
	}
	return events.Decoded{Event: ev, Kind: k, Data: data}, nil
}

// State is the contract's UserState of a user read from the admin API at observedAt.
func State(u keycloak.User, observedAt time.Time) *eventsv1.UserState {
	idps := make([]string, 0, len(u.FederatedIdentities))
	for _, f := range u.FederatedIdentities {
		idps = append(idps, f.IdentityProvider)
	}
	return &eventsv1.UserState{Email: u.Email, EmailVerified: u.EmailVerified, FirstName: u.FirstName, LastName: u.LastName,
		Enabled: u.Enabled, UserName: u.Username, IdentityProviders: idps, ObservedAt: timestamppb.New(observedAt)}
}

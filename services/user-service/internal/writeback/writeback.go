// Package writeback brings Keycloak users in line with the user service: the tenant a user was
// given (so it appears in tokens) and the name edited through the API. Requests are rows in the
// database, so Keycloak being down delays a write but never loses it.
package writeback

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/connectedbbq/platform/pkg/keycloak"
	"github.com/connectedbbq/platform/services/user-service/internal/store"
)

// TenantAttribute is the Keycloak user attribute that the realm maps into the tenant claim.
const TenantAttribute = "tenant"

// Users is the part of the Keycloak admin API the writer uses.
type Users interface {
	GetUser(ctx context.Context, id string) (keycloak.User, error)
	UpdateUser(ctx context.Context, id string, up keycloak.UserUpdate) error
}

// Writer performs the due write-backs.
type Writer struct {
	store    *store.Store
	users    Users
	log      *slog.Logger
	interval time.Duration
	wake     chan struct{}
	written  *prometheus.CounterVec
}

// New returns a Writer.
func New(s *store.Store, users Users, log *slog.Logger, reg prometheus.Registerer, interval time.Duration) *Writer {
	w := &Writer{store: s, users: users, log: log, interval: interval, wake: make(chan struct{}, 1),
		written: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bbq_users_keycloak_writes_total",
			Help: "Write-backs to Keycloak, by outcome (written, unchanged, retry, gone)."}, []string{"outcome"})}
	reg.MustRegister(w.written)
	return w
}

// Wake asks for a round now.
func (w *Writer) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run writes back until ctx ends.
func (w *Writer) Run(ctx context.Context) error {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-w.wake:
		}
		w.round(ctx)
	}
}

func (w *Writer) round(ctx context.Context) {
	jobs, err := w.store.DueKeycloakSyncs(ctx, 50)
	if err != nil {
		w.log.Warn("keycloak write-back: cannot read jobs", "error", err)
		return
	}
	for _, j := range jobs {
		outcome, err := w.sync(ctx, j)
		if err != nil {
			next := backoff(j.Attempts)
			w.log.Warn("keycloak write-back failed; will retry", "user_id", j.UserID, "attempt", j.Attempts+1, "retry_in", next, "error", err)
			w.written.WithLabelValues("retry").Inc()
			if err := w.store.KeycloakSyncFailed(ctx, j, next, err); err != nil {
				w.log.Warn("keycloak write-back: cannot reschedule", "error", err)
			}
			continue
		}
		w.written.WithLabelValues(outcome).Inc()
		if err := w.store.KeycloakSynced(ctx, j); err != nil {
			w.log.Warn("keycloak write-back: cannot mark done", "error", err)
		}
	}
}

// sync writes what differs; an identical Keycloak user is left alone, so no admin event (and no
// loop back through the bus) is caused.
func (w *Writer) sync(ctx context.Context, j store.KeycloakSync) (string, error) {
	u, err := w.users.GetUser(ctx, j.UserID)
	if errors.Is(err, keycloak.ErrNotFound) {
		return "gone", nil // deleted in Keycloak; its DELETE event is on its way
	}
	if err != nil {
		return "", err
	}
	var up keycloak.UserUpdate
	changed := false
	if u.Attribute(TenantAttribute) != j.TenantID {
		up.Attributes, changed = map[string][]string{TenantAttribute: {j.TenantID}}, true
	}
	if j.Name != "" && strings.TrimSpace(u.FirstName+" "+u.LastName) != j.Name {
		empty := ""
		up.FirstName, up.LastName, changed = &j.Name, &empty, true
	}
	if !changed {
		return "unchanged", nil
	}
	if err := w.users.UpdateUser(ctx, j.UserID, up); err != nil {
		return "", err
	}
	return "written", nil
}

// backoff grows from 1s to 5 minutes.
func backoff(attempts int) time.Duration {
	d := time.Second << min(attempts, 9)
	return min(d, 5*time.Minute)
}

// Package writeback brings Keycloak users in line with the user service: the default tenant of a user and
// their role in it (so both appear in tokens) and the name edited through the API. Requests are rows in the
// database, so Keycloak being down delays a write but never loses it; each row is claimed for a lease,
// so several replicas share the rows without doing one twice.
package writeback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/connectedbbq/platform/pkg/keycloak"
	"github.com/connectedbbq/platform/services/user-service/internal/store"
)

// The Keycloak user attributes that the realm maps into the tenant and tenant_role claims: the user's
// default tenant and their role in it.
const (
	TenantAttribute = "tenant"
	RoleAttribute   = "tenant_role"
)

// Users is the part of the Keycloak admin API the writer uses.
type Users interface {
	GetUser(ctx context.Context, id string) (keycloak.User, error)
	UpdateNames(ctx context.Context, id, firstName, lastName string) error
	PutAttributes(ctx context.Context, id string, attrs map[string][]string) error
}

// Config of a Writer.
type Config struct {
	Interval time.Duration // between rounds (a Wake starts one at once)
	Batch    int           // jobs claimed per round
	Lease    time.Duration // how long a claim lasts; a round stops at three quarters of it
}

// Writer performs the due write-backs.
type Writer struct {
	rounds
	store *store.Store
	users Users
	log   *slog.Logger
	cfg   Config
	m     metrics
}

type metrics struct {
	written  *prometheus.CounterVec
	failures *prometheus.CounterVec
	jobs     *prometheus.GaugeVec
}

// New returns a Writer.
func New(cfg Config, s *store.Store, users Users, log *slog.Logger, reg prometheus.Registerer) *Writer {
	m := newMetrics(reg, metricNames{
		written: "bbq_users_keycloak_writes_total", writtenHelp: "Write-backs to Keycloak, by outcome (written, unchanged, retry, gone, failed).",
		failures: "bbq_users_writeback_failures_total", failuresHelp: "Write-back jobs Keycloak refused for good (kept as failed, not retried), by reason (http_<status>).",
		jobs: "bbq_users_writeback_jobs", jobsHelp: "Write-back jobs in the database, by state (pending, failed)."})
	w := &Writer{store: s, users: users, log: log, cfg: cfg, m: m}
	w.rounds = newRounds(cfg.Interval, w.Round)
	return w
}

// Round claims the due jobs and does them. It returns how many it claimed.
func (w *Writer) Round(ctx context.Context) int {
	n, err := claimRound(ctx, w.cfg.Lease, func(ctx context.Context) ([]store.KeycloakSync, error) {
		return w.store.ClaimKeycloakSyncs(ctx, w.cfg.Batch, w.cfg.Lease)
	}, w.do, w.release)
	if err != nil {
		w.log.Warn("keycloak write-back: cannot claim jobs", "error", err)
		return 0
	}
	if ctx.Err() == nil {
		w.count(ctx)
	}
	return n
}

// do runs one job and records its outcome; jobCtx bounds the calls to Keycloak, ctx the database.
func (w *Writer) do(ctx, jobCtx context.Context, j store.KeycloakSync) {
	ctx = context.WithoutCancel(ctx) // an outcome reached is recorded even while shutting down
	outcome, err := w.sync(jobCtx, j)
	v, status := classify(err)
	switch v {
	case done:
		err = w.store.KeycloakSynced(ctx, j)
	case gone:
		outcome = "gone" // deleted in Keycloak; its DELETE event is on its way
		err = w.store.KeycloakSynced(ctx, j)
	case refused:
		outcome = "failed"
		w.m.failures.WithLabelValues(fmt.Sprintf("http_%d", status)).Inc()
		w.log.Error("keycloak refused a write-back; job kept as failed, not retried", "user_id", j.UserID, "status", status, "error", err)
		err = w.store.KeycloakSyncRefused(ctx, j, status, err)
	case retry:
		outcome = "retry"
		next := backoff(j.Attempts)
		w.log.Warn("keycloak write-back failed; will retry", "user_id", j.UserID, "attempt", j.Attempts+1, "retry_in", next, "error", err)
		err = w.store.KeycloakSyncFailed(ctx, j, next, status, err)
	}
	w.m.written.WithLabelValues(outcome).Inc()
	if err != nil {
		w.log.Warn("keycloak write-back: cannot record the outcome; the job runs again after its lease", "user_id", j.UserID, "error", err)
	}
}

// sync writes what differs; an identical Keycloak user is left alone, so no admin event (and no
// loop back through the bus) is caused.
func (w *Writer) sync(ctx context.Context, j store.KeycloakSync) (string, error) {
	u, err := w.users.GetUser(ctx, j.UserID)
	if err != nil {
		return "", err
	}
	outcome := "unchanged"
	if attrs := differing(u, map[string]string{TenantAttribute: j.TenantID, RoleAttribute: j.Role}); len(attrs) > 0 {
		if err := w.users.PutAttributes(ctx, j.UserID, attrs); err != nil {
			return "", err
		}
		outcome = "written"
	}
	if j.Name != "" && strings.TrimSpace(u.FirstName+" "+u.LastName) != j.Name {
		// A PUT without attributes: Keycloak keeps the email, the tenant and everything else not sent.
		if err := w.users.UpdateNames(ctx, j.UserID, j.Name, ""); err != nil {
			return "", err
		}
		outcome = "written"
	}
	return outcome, nil
}

// differing is the attributes of want that u does not have yet, as the bbq admin extension's
// PUT users/{id}/attributes takes them (an empty value removes the attribute). That extension writes them
// and nothing else: Keycloak 26's own PUT of a user cannot (with attributes, it removes every profile field
// it is not sent, email and names included), so it would send back a copy and undo a change made since the
// read. Both go in one request: one write, one admin event.
func differing(u keycloak.User, want map[string]string) map[string][]string {
	out := map[string][]string{}
	for name, v := range want {
		if u.Attribute(name) == v {
			continue
		}
		out[name] = []string{}
		if v != "" {
			out[name] = []string{v}
		}
	}
	return out
}

// release gives up the claims of jobs a round did not get to, so they need not wait for the lease.
func (w *Writer) release(ctx context.Context, jobs []store.KeycloakSync) {
	ctx = context.WithoutCancel(ctx)
	for _, j := range jobs {
		if err := w.store.ReleaseKeycloakSync(ctx, j); err != nil {
			w.log.Warn("keycloak write-back: cannot release a job", "user_id", j.UserID, "error", err)
		}
	}
}

func (w *Writer) count(ctx context.Context) {
	pending, failed, err := w.store.KeycloakSyncCounts(ctx)
	if err != nil {
		w.log.Warn("keycloak write-back: cannot count jobs", "error", err)
		return
	}
	w.m.jobs.WithLabelValues("pending").Set(float64(pending))
	w.m.jobs.WithLabelValues("failed").Set(float64(failed))
}

// verdict is what a job's result means for the job.
type verdict int

const (
	done    verdict = iota // written or already in line
	gone                   // the user no longer exists in Keycloak: nothing to write
	refused                // Keycloak refused the request: the same request cannot succeed later
	retry                  // Keycloak was unreachable, overloaded or failing: try again later
)

// classify sorts a job's error. A 4xx refuses the job for good, except 404 (the user is gone), 429
// (throttled), 408 (a timeout) and 401/403 and any error of the token request: those say the service's
// credentials or roles are wrong, which an operator fixes, after which the same jobs succeed.
func classify(err error) (verdict, int) {
	if err == nil {
		return done, 0
	}
	var apiErr *keycloak.APIError
	if !errors.As(err, &apiErr) {
		return retry, 0
	}
	s := apiErr.Status
	switch {
	case strings.HasSuffix(apiErr.Path, "/protocol/openid-connect/token"):
		return retry, s
	case s == http.StatusNotFound:
		return gone, s
	case s == http.StatusTooManyRequests, s == http.StatusRequestTimeout, s == http.StatusUnauthorized, s == http.StatusForbidden:
		return retry, s
	case s >= 400 && s < 500:
		return refused, s
	}
	return retry, s
}

// backoff grows from 1s to 5 minutes.
func backoff(attempts int) time.Duration {
	d := time.Second << min(attempts, 9)
	return min(d, 5*time.Minute)
}

package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/connectedbbq/platform/pkg/events"
	"github.com/connectedbbq/platform/services/user-service/internal/domain"
)

// ErrInvalidEvent marks an IdP event that can never be applied (it lacks a user id, say).
var ErrInvalidEvent = domain.ErrInvalidEvent

// Outcome says what applying one event did.
type Outcome string

// Outcomes of Apply.
const (
	Duplicate Outcome = "duplicate" // this event id was applied before
	Unchanged Outcome = "unchanged" // applied, nothing changed (e.g. a profile update that matches)
	Updated   Outcome = "updated"   // stored, nothing announced (e.g. a pending registration)
	Announced Outcome = "announced" // stored and events added to the outbox
)

// Apply applies one IdP event exactly once: the inbox row, the user change and its outbox events
// commit together, or not at all.
func (s *Store) Apply(ctx context.Context, d events.Decoded) (Outcome, error) {
	outcomes, errs, err := s.ApplyBatch(ctx, []events.Decoded{d})
	if err != nil {
		return "", err
	}
	return outcomes[0], errs[0]
}

// ApplyBatch applies several events in one transaction, so that one commit (one fsync) serves
// them all. err is set when the transaction itself failed, and then nothing was applied. An event
// that fails is reported in errs and the others commit: the batch first runs without savepoints
// (the common case, fewer statements); if an event fails, it runs again with one savepoint per
// event, so the failed one is rolled back alone. Events are applied grouped by user, in their
// order, so that concurrent batches lock users in the same order and cannot deadlock.
func (s *Store) ApplyBatch(ctx context.Context, ds []events.Decoded) (outcomes []Outcome, errs []error, err error) {
	order := byUser(ds)
	outcomes, errs, err = s.applyOrdered(ctx, ds, order, false)
	if errors.Is(err, errEventFailed) {
		outcomes, errs, err = s.applyOrdered(ctx, ds, order, true)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("apply %d events: %w", len(ds), err)
	}
	if slices.Contains(outcomes, Announced) {
		s.Notify()
	}
	return outcomes, errs, nil
}

// byUser is the order events are applied in: grouped by user, each user's in their order.
func byUser(ds []events.Decoded) []int {
	order := make([]int, len(ds))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(ds[a].Event.Subject(), ds[b].Event.Subject()) })
	return order
}

// errEventFailed aborts a batch run without savepoints: one event failed, so the batch is run again
// with savepoints.
var errEventFailed = errors.New("an event of the batch failed")

func (s *Store) applyOrdered(ctx context.Context, ds []events.Decoded, order []int, isolate bool) (outcomes []Outcome, errs []error, err error) {
	if !isolate {
		return s.applyBatched(ctx, ds, order)
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		outcomes, errs = make([]Outcome, len(ds)), make([]error, len(ds))
		for _, i := range order {
			ev, err := domainEvent(ds[i])
			if err != nil {
				errs[i] = err // refused before touching the database: nothing to roll back
				continue
			}
			outcomes[i], errs[i] = applyInTx(ctx, tx, ds[i], ev, isolate)
			switch {
			case errs[i] != nil && IsTransient(errs[i]):
				return errs[i] // the database, not the event: retry the whole batch
			case errs[i] != nil && !isolate:
				return errEventFailed
			case errs[i] != nil:
				if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT event`); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return outcomes, errs, err
}

func domainEvent(d events.Decoded) (domain.Event, error) {
	if d.Event.Subject() == "" {
		return domain.Event{}, fmt.Errorf("%w: %s %s has no subject (user id)", ErrInvalidEvent, d.Event.Type(), d.Event.ID())
	}
	return domain.FromDecoded(d)
}

// applyInTx applies one event; with isolate, under a savepoint named "event" that it opens and, unless
// the event fails, releases. Statements are pipelined: one round trip to read and lock, one to write
// (and one more to look up declared tenants when the user is confirmed).
func applyInTx(ctx context.Context, tx pgx.Tx, d events.Decoded, ev domain.Event, isolate bool) (Outcome, error) {
	duplicate, u, err := lockUser(ctx, tx, d.Event.ID(), d.Event.Subject(), isolate)
	if err != nil {
		return "", err
	}
	if duplicate {
		return Duplicate, release(ctx, tx, isolate)
	}
	c, err := u.Apply(ctx, ev, directory{tx}, time.Now().UTC())
	if err != nil {
		return "", fmt.Errorf("apply %s %s: %w", d.Event.Type(), d.Event.ID(), err)
	}
	tp, _ := d.Event.Extensions()[events.TraceParentExtension].(string)
	outcome, err := save(ctx, tx, u, c, tp, isolate)
	if err != nil {
		return "", fmt.Errorf("apply %s %s: %w", d.Event.Type(), d.Event.ID(), err)
	}
	return outcome, nil
}

// userColumns are the columns of a domain.User, in the order of scanUser.
const userColumns = `id, realm, email, user_name, name, email_verified, enabled, identity_providers, registered, method,
	status, observed_at, observed_event_id, placed_by, tenant_id, role, created_at, activated_at`

// scanUser reads a row of userColumns into u when the query runs.
func scanUser(row pgx.Row, u *domain.User) error {
	var tenant, role *string
	var observed, activated *time.Time
	var status string
	if err := row.Scan(&u.ID, &u.Realm, &u.Email, &u.UserName, &u.Name, &u.EmailVerified, &u.Enabled, &u.IdentityProviders,
		&u.Registered, &u.Method, &status, &observed, &u.Watermark.EventID, &u.PlacedBy, &tenant, &role, &u.CreatedAt, &activated); err != nil {
		return err
	}
	u.Status = domain.Status(status)
	u.TenantID, u.Role = deref(tenant), domain.Role(deref(role))
	u.Watermark.ObservedAt, u.ActivatedAt = derefTime(observed), derefTime(activated)
	return nil
}

// lockUser records the event in the inbox and returns the user row, creating an empty pending
// one first, locked for this transaction so that two events about one user are applied one
// after the other. duplicate is true when the inbox already had the event. With isolate, it opens
// the event's savepoint first.
func lockUser(ctx context.Context, tx pgx.Tx, eventID, userID string, isolate bool) (duplicate bool, u *domain.User, err error) {
	b := &pgx.Batch{}
	if isolate {
		b.Queue(`SAVEPOINT event`)
	}
	inbox := b.Queue(`INSERT INTO processed_events (id) VALUES ($1) ON CONFLICT DO NOTHING`, eventID)
	b.Queue(`INSERT INTO users (id) VALUES ($1) ON CONFLICT DO NOTHING`, userID)
	lock := b.Queue(`SELECT `+userColumns+` FROM users WHERE id = $1 FOR UPDATE`, userID)
	inbox.Exec(func(tag pgconn.CommandTag) error {
		duplicate = tag.RowsAffected() == 0
		return nil
	})
	u = &domain.User{}
	lock.QueryRow(func(row pgx.Row) error { return scanUser(row, u) })
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return false, nil, fmt.Errorf("record event %s and lock user %s: %w", eventID, userID, err)
	}
	return duplicate, u, nil
}

// save writes what the domain changed: the personal tenant, the row, the Keycloak sync request, the
// outbox events, and releases the event's savepoint, in one round trip.
func save(ctx context.Context, tx pgx.Tx, u *domain.User, c domain.Change, traceParent string, isolate bool) (Outcome, error) {
	if !c.Dirty {
		return Unchanged, release(ctx, tx, isolate)
	}
	outbox, err := outboxEvents(c.Announce, traceParent)
	if err != nil {
		return "", err
	}
	b := &pgx.Batch{}
	if t := c.PersonalTenant; t != nil {
		b.Queue(`INSERT INTO tenants (id, display_name, kind) VALUES ($1, $2, 'personal') ON CONFLICT DO NOTHING`, t.ID, t.Name)
	}
	queueUserUpdate(b, u)
	if m := c.Join; m != nil {
		queueJoin(b, *m)
	}
	if c.ErasePersonalTenant != "" {
		queueErasePersonalTenants(b, c.ErasePersonalTenant, u.ID)
	}
	if u.Status == domain.Deleted { // UserRemoved announces the end of every membership
		b.Queue(`DELETE FROM memberships WHERE user_id = $1`, u.ID)
	}
	if c.SyncKeycloak {
		queueKeycloakSync(b, u.ID, c.SyncName)
	}
	if c.DropKeycloakSync {
		b.Queue(`DELETE FROM keycloak_sync WHERE user_id = $1`, u.ID)
	}
	queueOutbox(b, outbox)
	if isolate {
		b.Queue(`RELEASE SAVEPOINT event`)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return "", fmt.Errorf("write user %s: %w", u.ID, err)
	}
	if len(outbox) > 0 {
		return Announced, nil
	}
	return Updated, nil
}

// queueUserUpdate writes the user's row.
func queueUserUpdate(b *pgx.Batch, u *domain.User) {
	b.Queue(`UPDATE users SET realm=$2, email=$3, user_name=$4, name=$5, email_verified=$6, enabled=$7, identity_providers=$8,
		registered=$9, method=$10, status=$11, observed_at=$12, observed_event_id=$13, placed_by=$14, tenant_id=$15, role=$16,
		activated_at=$17, updated_at=now() WHERE id=$1`,
		u.ID, u.Realm, u.Email, u.UserName, u.Name, u.EmailVerified, u.Enabled, nonNil(u.IdentityProviders), u.Registered, u.Method,
		string(u.Status), nullTime(u.Watermark.ObservedAt), u.Watermark.EventID, u.PlacedBy, nullString(u.TenantID),
		nullString(string(u.Role)), nullTime(u.ActivatedAt))
}

// release ends the event's savepoint when nothing was written.
func release(ctx context.Context, tx pgx.Tx, isolate bool) error {
	if !isolate {
		return nil
	}
	if _, err := tx.Exec(ctx, `RELEASE SAVEPOINT event`); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}

// hasDeclaredTenants says whether any tenant could be returned by directory.DeclaredTenants: without one, the
// batched path places without asking (one round trip less per activation). Keep it in line with that query.
const hasDeclaredTenants = `SELECT EXISTS (SELECT 1 FROM tenants WHERE kind = 'declared')`

// declaredTenantsOf is the declared tenants an address ($1) or its domain ($2) places in.
const declaredTenantsOf = `SELECT t.id, t.display_name, t.admins, t.suspended,
		COALESCE((SELECT array_agg(domain ORDER BY domain) FROM tenant_domains WHERE tenant_id = t.id), '{}')
	FROM tenants t WHERE t.kind = 'declared'
		AND (t.id IN (SELECT tenant_id FROM tenant_domains WHERE domain = $2) OR $1 = ANY(t.admins))
	ORDER BY t.id`

// directory looks up declared tenants for the domain's placement rule, in the applying transaction.
type directory struct{ tx querier }

// querier is a transaction: a pgx.Tx, or a connection inside the batched path's own BEGIN.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

func (d directory) DeclaredTenants(ctx context.Context, email string) ([]domain.DeclaredTenant, error) {
	email = strings.ToLower(email)
	_, dom, _ := strings.Cut(email, "@")
	rows, err := d.tx.Query(ctx, declaredTenantsOf, email, dom)
	if err != nil {
		return nil, fmt.Errorf("declared tenants of %s: %w", email, err)
	}
	tenants, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.DeclaredTenant, error) {
		var t domain.DeclaredTenant
		err := r.Scan(&t.ID, &t.Name, &t.Admins, &t.Suspended, &t.Domains)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("declared tenants of %s: %w", email, err)
	}
	return tenants, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func derefTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// queueErasePersonalTenants renames the person's personal tenants: the first one, and any made anew for them
// later (a membership of source personal). It must go before their memberships, which name the later ones.
func queueErasePersonalTenants(b *pgx.Batch, firstTenantID, userID string) {
	b.Queue(`UPDATE tenants SET display_name = $2, updated_at = now() WHERE kind = 'personal' AND (id = $1
		OR id IN (SELECT tenant_id FROM memberships WHERE user_id = $3 AND source = 'personal'))`,
		firstTenantID, domain.ErasedTenantName, userID)
}

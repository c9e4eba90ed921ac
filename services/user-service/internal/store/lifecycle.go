package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectedbbq/platform/pkg/events"
	eventsv1 "github.com/connectedbbq/platform/pkg/gen/bbq/events/v1"
)

// ErrInvalidEvent marks an IdP event that can never be applied (it lacks a user id, say).
var ErrInvalidEvent = errors.New("invalid event")

// Outcome says what applying one event did.
type Outcome string

// Outcomes of Apply.
const (
	Duplicate Outcome = "duplicate" // this event id was applied before
	Unchanged Outcome = "unchanged" // applied, nothing changed (e.g. a profile update that matches)
	Updated   Outcome = "updated"   // stored, nothing announced (e.g. a pending registration)
	Announced Outcome = "announced" // stored and events added to the outbox
)

// user is a row of users.
type user struct {
	ID, Realm, Email, UserName, Name, Method, Status string
	EmailVerified, Registered                        bool
	TenantID, Role                                   *string
	CreatedAt                                        time.Time
	ActivatedAt                                      *time.Time
}

// change is the work one event does on a locked user row.
type change struct {
	tx      pgx.Tx
	u       *user
	cause   events.Decoded
	outbox  []outboxEvent
	dirty   bool
	changed []string
	sync    bool // bring Keycloak in line (tenant written back)
	isolate bool // the event runs under a savepoint, released with its writes
}

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
	order := make([]int, len(ds))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(ds[a].Event.Subject(), ds[b].Event.Subject()) })
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

// errEventFailed aborts a batch run without savepoints: one event failed, so the batch is run again
// with savepoints.
var errEventFailed = errors.New("an event of the batch failed")

func (s *Store) applyOrdered(ctx context.Context, ds []events.Decoded, order []int, isolate bool) (outcomes []Outcome, errs []error, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		outcomes, errs = make([]Outcome, len(ds)), make([]error, len(ds))
		for _, i := range order {
			if ds[i].Event.Subject() == "" {
				errs[i] = fmt.Errorf("%w: %s %s has no subject (user id)", ErrInvalidEvent, ds[i].Event.Type(), ds[i].Event.ID())
				continue
			}
			outcomes[i], errs[i] = applyInTx(ctx, tx, ds[i], isolate)
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

// applyInTx applies one event; with isolate, under a savepoint named "event" that it opens and, unless
// the event fails, releases. Statements are pipelined: one round trip to read and lock, one to write.
func applyInTx(ctx context.Context, tx pgx.Tx, d events.Decoded, isolate bool) (Outcome, error) {
	duplicate, u, err := lockUser(ctx, tx, d.Event.ID(), d.Event.Subject(), isolate)
	if err != nil {
		return "", err
	}
	c := &change{tx: tx, u: u, cause: d, isolate: isolate}
	if duplicate {
		return Duplicate, c.release(ctx)
	}
	if err := c.apply(ctx); err != nil {
		return "", fmt.Errorf("apply %s %s: %w", d.Event.Type(), d.Event.ID(), err)
	}
	outcome, err := c.commit(ctx)
	if err != nil {
		return "", fmt.Errorf("apply %s %s: %w", d.Event.Type(), d.Event.ID(), err)
	}
	return outcome, nil
}

// lockUser records the event in the inbox and returns the user row, creating an empty pending
// one first, locked for this transaction so that two events about one user are applied one
// after the other. duplicate is true when the inbox already had the event. With isolate, it opens
// the event's savepoint first.
func lockUser(ctx context.Context, tx pgx.Tx, eventID, userID string, isolate bool) (duplicate bool, u *user, err error) {
	b := &pgx.Batch{}
	if isolate {
		b.Queue(`SAVEPOINT event`)
	}
	inbox := b.Queue(`INSERT INTO processed_events (id) VALUES ($1) ON CONFLICT DO NOTHING`, eventID)
	b.Queue(`INSERT INTO users (id) VALUES ($1) ON CONFLICT DO NOTHING`, userID)
	lock := b.Queue(`SELECT realm, email, user_name, name, method, status, email_verified, registered,
		tenant_id, role, created_at, activated_at FROM users WHERE id = $1 FOR UPDATE`, userID)
	inbox.Exec(func(tag pgconn.CommandTag) error {
		duplicate = tag.RowsAffected() == 0
		return nil
	})
	u = &user{ID: userID}
	lock.QueryRow(func(row pgx.Row) error {
		return row.Scan(&u.Realm, &u.Email, &u.UserName, &u.Name, &u.Method, &u.Status, &u.EmailVerified, &u.Registered,
			&u.TenantID, &u.Role, &u.CreatedAt, &u.ActivatedAt)
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return false, nil, fmt.Errorf("record event %s and lock user %s: %w", eventID, userID, err)
	}
	return duplicate, u, nil
}

func (c *change) apply(ctx context.Context) error {
	if c.u.Status == "deleted" {
		return nil // deletion is final: later or replayed events about the user change nothing
	}
	switch data := c.cause.Data.(type) {
	case *eventsv1.UserRegistered:
		c.set("email", &c.u.Email, data.GetEmail())
		c.set("user_name", &c.u.UserName, data.GetUserName())
		c.set("name", &c.u.Name, data.GetName())
		c.set("realm", &c.u.Realm, data.GetRealm())
		if !c.u.Registered {
			c.u.Registered, c.u.Method, c.dirty = true, strings.ToLower(strings.TrimPrefix(data.GetMethod().String(), "REGISTRATION_METHOD_")), true
		}
		if data.GetEmailVerified() {
			c.verify()
		}
	case *eventsv1.UserEmailVerified:
		c.set("realm", &c.u.Realm, data.GetRealm())
		if data.GetEmail() != "" && c.u.Email == "" {
			c.set("email", &c.u.Email, data.GetEmail())
		}
		c.verify()
	case *eventsv1.UserProfileUpdated:
		c.set("email", &c.u.Email, data.GetEmail())
		c.set("name", &c.u.Name, data.GetName())
		if data.EmailVerified != nil {
			if data.GetEmailVerified() {
				c.verify()
			} else if c.u.EmailVerified {
				c.u.EmailVerified, c.dirty = false, true
				c.changed = append(c.changed, "email_verified")
			}
		}
	case *eventsv1.UserDeleted:
		return c.delete(ctx)
	default:
		return fmt.Errorf("%w: the user service does not consume %s", ErrInvalidEvent, c.cause.Event.Type())
	}
	if c.u.Status == "pending" && c.u.Registered && c.u.EmailVerified {
		return c.activate(ctx)
	}
	if c.u.Status == "active" && len(c.changed) > 0 {
		return c.announce(events.UserUpdated, &eventsv1.UserUpdated{User: c.u.proto(), ChangedFields: c.changed})
	}
	return nil
}

// set changes a field when the event reports a different, non-empty value.
func (c *change) set(name string, field *string, v string) {
	if v == "" || *field == v {
		return
	}
	*field, c.dirty = v, true
	if name == "email" || name == "name" {
		c.changed = append(c.changed, name)
	}
}

func (c *change) verify() {
	if !c.u.EmailVerified {
		c.u.EmailVerified, c.dirty = true, true
		c.changed = append(c.changed, "email_verified")
	}
}

// activate gives the confirmed user a tenant and announces it: exactly once, because it happens
// only on the pending-to-active transition of a locked row.
func (c *change) activate(ctx context.Context) error {
	t, err := assignTenant(ctx, c.tx, c.u)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	c.u.Status, c.u.TenantID, c.u.Role, c.u.ActivatedAt, c.dirty, c.sync = "active", &t.id, &t.role, &now, true, true
	if t.created {
		if err := c.announce(events.TenantCreated, &eventsv1.TenantCreated{TenantId: t.id, Name: t.name, CreatedByUserId: c.u.ID}); err != nil {
			return err
		}
	}
	if err := c.announce(events.TenantMemberAdded, &eventsv1.TenantMemberAdded{TenantId: t.id, UserId: c.u.ID, Role: roleProto(t.role)}); err != nil {
		return err
	}
	return c.announce(events.UserCreated, &eventsv1.UserCreated{User: c.u.proto()})
}

func (c *change) delete(ctx context.Context) error {
	tenantID := ""
	if c.u.TenantID != nil {
		tenantID = *c.u.TenantID
	}
	wasActive := c.u.Status == "active"
	// Personal data is erased; the row stays as a tombstone so that late events change nothing.
	c.u.Status, c.u.Email, c.u.UserName, c.u.Name, c.u.TenantID, c.u.Role, c.dirty = "deleted", "", "", "", nil, nil, true
	if _, err := c.tx.Exec(ctx, `DELETE FROM keycloak_sync WHERE user_id = $1`, c.u.ID); err != nil {
		return fmt.Errorf("drop keycloak sync of %s: %w", c.u.ID, err)
	}
	if !wasActive {
		return nil // nobody was told about a user that never became active
	}
	return c.announce(events.UserRemoved, &eventsv1.UserRemoved{UserId: c.u.ID, TenantId: tenantID})
}

// commit writes the changed row, its outbox events and its Keycloak sync request, and releases the
// event's savepoint, in one round trip.
func (c *change) commit(ctx context.Context) (Outcome, error) {
	if !c.dirty {
		return Unchanged, c.release(ctx)
	}
	b := &pgx.Batch{}
	b.Queue(`UPDATE users SET realm=$2, email=$3, user_name=$4, name=$5, method=$6, status=$7,
		email_verified=$8, registered=$9, tenant_id=$10, role=$11, activated_at=$12, updated_at=now() WHERE id=$1`,
		c.u.ID, c.u.Realm, c.u.Email, c.u.UserName, c.u.Name, c.u.Method, c.u.Status, c.u.EmailVerified,
		c.u.Registered, c.u.TenantID, c.u.Role, c.u.ActivatedAt)
	if c.sync {
		queueKeycloakSync(b, c.u.ID)
	}
	queueOutbox(b, c.outbox)
	if c.isolate {
		b.Queue(`RELEASE SAVEPOINT event`)
	}
	if err := c.tx.SendBatch(ctx, b).Close(); err != nil {
		return "", fmt.Errorf("write user %s: %w", c.u.ID, err)
	}
	if len(c.outbox) > 0 {
		return Announced, nil
	}
	return Updated, nil
}

// release ends the event's savepoint when nothing was written.
func (c *change) release(ctx context.Context) error {
	if !c.isolate {
		return nil
	}
	if _, err := c.tx.Exec(ctx, `RELEASE SAVEPOINT event`); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}

// announce adds an event about the user to the outbox of this transaction.
func (c *change) announce(k events.Kind, data proto.Message) error {
	tp, _ := c.cause.Event.Extensions()[events.TraceParentExtension].(string)
	ev, err := newOutboxEvent(k, c.u.ID, tp, data)
	if err != nil {
		return err
	}
	c.outbox = append(c.outbox, ev)
	return nil
}

func (u *user) proto() *eventsv1.User {
	p := &eventsv1.User{UserId: u.ID, Email: u.Email, UserName: u.UserName, Name: u.Name, EmailVerified: u.EmailVerified,
		Status: statusProto(u.Status), CreatedAt: timestamppb.New(u.CreatedAt)}
	if u.TenantID != nil {
		p.TenantId = *u.TenantID
	}
	if u.Role != nil {
		p.Role = roleProto(*u.Role)
	}
	return p
}

func statusProto(s string) eventsv1.UserStatus {
	switch s {
	case "pending":
		return eventsv1.UserStatus_USER_STATUS_PENDING
	case "active":
		return eventsv1.UserStatus_USER_STATUS_ACTIVE
	case "deleted":
		return eventsv1.UserStatus_USER_STATUS_DELETED
	}
	return eventsv1.UserStatus_USER_STATUS_UNSPECIFIED
}

func roleProto(r string) eventsv1.TenantRole {
	if r == "admin" {
		return eventsv1.TenantRole_TENANT_ROLE_ADMIN
	}
	return eventsv1.TenantRole_TENANT_ROLE_MEMBER
}

// outboxEvent is a CloudEvent waiting in the outbox.
type outboxEvent struct {
	id      uuid.UUID
	subject string
	body    []byte
}

func newOutboxEvent(k events.Kind, subject, traceParent string, data proto.Message) (outboxEvent, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return outboxEvent{}, fmt.Errorf("outbox id: %w", err)
	}
	ev, err := events.New(k, events.Meta{ID: id.String(), Source: events.UsersSource, Subject: subject,
		Time: time.Now(), TraceParent: traceParent}, data)
	if err != nil {
		return outboxEvent{}, err
	}
	body, err := events.Encode(ev)
	if err != nil {
		return outboxEvent{}, err
	}
	return outboxEvent{id: id, subject: k.Subject, body: body}, nil
}

// queueOutbox adds the events, in order, in one statement.
func queueOutbox(b *pgx.Batch, evs []outboxEvent) {
	if len(evs) == 0 {
		return
	}
	ids, subjects, bodies := make([]uuid.UUID, len(evs)), make([]string, len(evs)), make([][]byte, len(evs))
	for i, ev := range evs {
		ids[i], subjects[i], bodies[i] = ev.id, ev.subject, ev.body
	}
	b.Queue(`INSERT INTO outbox (id, subject, event)
		SELECT id, subject, event FROM unnest($1::uuid[], $2::text[], $3::bytea[]) WITH ORDINALITY AS e(id, subject, event, n) ORDER BY n`,
		ids, subjects, bodies)
}

func queueKeycloakSync(b *pgx.Batch, userID string) {
	b.Queue(`INSERT INTO keycloak_sync (user_id) VALUES ($1)
		ON CONFLICT (user_id) DO UPDATE SET requested_at = clock_timestamp(), next_attempt_at = now(), attempts = 0`, userID)
}

// insertOutbox adds events to the outbox of tx (the statement of queueOutbox, on its own).
func insertOutbox(ctx context.Context, tx pgx.Tx, evs []outboxEvent) error {
	b := &pgx.Batch{}
	queueOutbox(b, evs)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

// requestKeycloakSync asks the write-back to bring the user's Keycloak account in line.
func requestKeycloakSync(ctx context.Context, tx pgx.Tx, userID string) error {
	b := &pgx.Batch{}
	queueKeycloakSync(b, userID)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("request keycloak sync of %s: %w", userID, err)
	}
	return nil
}

package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/connectedbbq/platform/pkg/events"
	"github.com/connectedbbq/platform/services/user-service/internal/domain"
)

// The batched path applies a whole batch in two pipelined round trips, whatever its size: one to record every
// event in the inbox and lock every user (multi-row statements), then the domain in memory, one event after
// the other in the batch's order, then one to write it all. It gives what applying the events one by one
// gives (applyInTx): the same inbox, the same final rows and the same outbox events in the same order. When an
// event fails, the caller runs the batch again one event at a time under savepoints (applyOrdered's isolate).

// batchUsers is the inbox and the locked users of one batch.
type batchUsers struct {
	fresh    map[string]bool // event ids this transaction inserted into the inbox
	users    map[string]*domain.User
	declared bool // the database has declared tenants: activation must look them up
}

// lockBatch begins the transaction, records the events' ids in the inbox and locks their users (creating empty pending rows first), in
// one round trip. Ids and users go in sorted order, so that concurrent batches lock in the same order.
func lockBatch(ctx context.Context, conn *pgx.Conn, ds []events.Decoded, valid []bool) (batchUsers, error) {
	var ids, users []string
	for i, d := range ds {
		if valid[i] {
			ids, users = append(ids, d.Event.ID()), append(users, d.Event.Subject())
		}
	}
	slices.Sort(ids)
	slices.Sort(users)
	users = slices.Compact(users)
	bu := batchUsers{fresh: make(map[string]bool, len(ids)), users: make(map[string]*domain.User, len(users))}
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	b.Queue(`INSERT INTO processed_events (id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING RETURNING id`, ids).Query(
		func(rows pgx.Rows) error {
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					return err
				}
				bu.fresh[id] = true
			}
			return rows.Err()
		})
	b.Queue(`INSERT INTO users (id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING`, users)
	// The lock reads the users by primary key, whatever the planner knows. On a new database users is empty when a
	// connection first plans this statement, and without statistics a sequential scan looks cheaper: cached as the
	// generic plan, it compared every row with every id of each batch while the table grew, until autovacuum's
	// first ANALYZE (up to a minute, or a whole backfill): a third of Postgres's CPU at full speed.
	b.Queue(`SET LOCAL enable_seqscan = off`)
	b.Queue(`SELECT `+userColumns+` FROM users WHERE id = ANY($1) ORDER BY id FOR UPDATE`, users).Query(
		func(rows pgx.Rows) error {
			for rows.Next() {
				u := &domain.User{}
				if err := scanUser(rows, u); err != nil {
					return err
				}
				bu.users[u.ID] = u
			}
			return rows.Err()
		})
	b.Queue(`SET LOCAL enable_seqscan TO DEFAULT`)
	b.Queue(hasDeclaredTenants).QueryRow(func(row pgx.Row) error { return row.Scan(&bu.declared) })
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return batchUsers{}, fmt.Errorf("record %d events and lock %d users: %w", len(ids), len(users), err)
	}
	return bu, nil
}

// batchWrites is what a batch writes, gathered over its events in their order.
type batchWrites struct {
	tenants   []domain.PersonalTenant
	dirty     []*domain.User // each user once, in the order of their first change
	joins     []domain.Membership
	removed   []string // users whose memberships end
	syncs     []keycloakSync
	dropSyncs []string
	erasures  []erasure // personal tenants to rename, before the memberships that name them go
	outbox    []outboxEvent
	dirtySeen map[string]bool
}

type erasure struct{ firstTenantID, userID string }

type keycloakSync struct {
	userID    string
	writeName bool
}

func (w *batchWrites) add(u *domain.User, c domain.Change, ob []outboxEvent) {
	if !c.Dirty {
		return
	}
	if !w.dirtySeen[u.ID] {
		w.dirtySeen[u.ID] = true
		w.dirty = append(w.dirty, u)
	}
	if t := c.PersonalTenant; t != nil {
		w.tenants = append(w.tenants, *t)
	}
	if c.Join != nil {
		w.joins = append(w.joins, *c.Join)
	}
	if u.Status == domain.Deleted {
		w.removed = append(w.removed, u.ID)
	}
	if c.SyncKeycloak {
		w.syncs = append(w.syncs, keycloakSync{u.ID, c.SyncName})
	}
	if c.DropKeycloakSync {
		w.dropSyncs = append(w.dropSyncs, u.ID)
	}
	if c.ErasePersonalTenant != "" {
		w.erasures = append(w.erasures, erasure{c.ErasePersonalTenant, u.ID})
	}
	w.outbox = append(w.outbox, ob...)
}

// applyBatched applies the valid events of ds (in order) in one transaction of two round trips (BEGIN rides
// with the first, COMMIT with the last; more only when declared tenants exist and users activate), retrying
// serialization failures and deadlocks as inTx does. It returns errEventFailed when an event fails (the
// caller isolates it) and the database's error when the transaction fails.
func (s *Store) applyBatched(ctx context.Context, ds []events.Decoded, order []int) (outcomes []Outcome, errs []error, err error) {
	for attempt := range 3 {
		outcomes, errs = make([]Outcome, len(ds)), make([]error, len(ds))
		evs := make([]domain.Event, len(ds))
		for i := range ds {
			evs[i], errs[i] = domainEvent(ds[i]) // refused before touching the database: nothing to roll back
		}
		err = s.onConn(ctx, func(conn *pgx.Conn) error { return applyInBatch(ctx, conn, ds, evs, order, outcomes, errs) })
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || (pgErr.Code != "40001" && pgErr.Code != "40P01") {
			return outcomes, errs, err
		}
		time.Sleep(time.Duration(attempt+1) * 10 * time.Millisecond)
	}
	return outcomes, errs, err
}

// onConn runs f on a connection of the pool, rolling back what f leaves open after an error. A connection
// released inside a transaction is closed by the pool, never reused.
func (s *Store) onConn(ctx context.Context, f func(*pgx.Conn) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if err := f(conn.Conn()); err != nil {
		return errors.Join(err, endTx(ctx, conn.Conn(), "ROLLBACK"))
	}
	return nil
}

func applyInBatch(ctx context.Context, conn *pgx.Conn, ds []events.Decoded, evs []domain.Event, order []int, outcomes []Outcome, errs []error) error {
	valid := make([]bool, len(ds))
	for i := range ds {
		valid[i] = errs[i] == nil
	}
	bu, err := lockBatch(ctx, conn, ds, valid)
	if err != nil {
		return err
	}
	var dir domain.Directory = noDeclaredTenants{}
	if bu.declared {
		dir = directory{conn}
	}
	w := batchWrites{dirtySeen: map[string]bool{}}
	now := time.Now().UTC()
	for _, i := range order {
		if !valid[i] {
			continue
		}
		d := ds[i]
		if !bu.fresh[d.Event.ID()] {
			outcomes[i] = Duplicate
			continue
		}
		delete(bu.fresh, d.Event.ID()) // a second copy of the event in this batch is a duplicate
		u := bu.users[d.Event.Subject()]
		c, err := u.Apply(ctx, evs[i], dir, now)
		if err != nil {
			errs[i] = fmt.Errorf("apply %s %s: %w", d.Event.Type(), d.Event.ID(), err)
			return failure(errs[i])
		}
		tp, _ := d.Event.Extensions()[events.TraceParentExtension].(string)
		ob, err := outboxEvents(c.Announce, tp)
		if err != nil {
			errs[i] = err
			return errEventFailed
		}
		w.add(u, c, ob)
		outcomes[i] = outcomeOf(c, ob)
	}
	if err := w.writeAndCommit(ctx, conn); err != nil {
		if IsTransient(err) {
			return err
		}
		return fmt.Errorf("%w: %w", errEventFailed, err)
	}
	return nil
}

// failure is what an event's error makes of the batch: transient ones retry the batch, others isolate the event.
func failure(err error) error {
	if IsTransient(err) {
		return err
	}
	return errEventFailed
}

func outcomeOf(c domain.Change, ob []outboxEvent) Outcome {
	switch {
	case !c.Dirty:
		return Unchanged
	case len(ob) > 0:
		return Announced
	default:
		return Updated
	}
}

// writeAndCommit sends what the batch changed and COMMIT in one round trip: the personal tenants before the
// users that point at them, the memberships before the ends of memberships, and the outbox in the order the
// events announced.
func (w *batchWrites) writeAndCommit(ctx context.Context, conn *pgx.Conn) error {
	b := &pgx.Batch{}
	if len(w.tenants) > 0 {
		ids, names := make([]string, len(w.tenants)), make([]string, len(w.tenants))
		for i, t := range w.tenants {
			ids[i], names[i] = t.ID, t.Name
		}
		b.Queue(`INSERT INTO tenants (id, display_name, kind) SELECT id, name, 'personal' FROM unnest($1::text[], $2::text[]) AS t(id, name)
			ON CONFLICT DO NOTHING`, ids, names)
	}
	for _, u := range w.dirty {
		queueUserUpdate(b, u)
	}
	for _, m := range w.joins {
		queueJoin(b, m)
	}
	for _, e := range w.erasures {
		queueErasePersonalTenants(b, e.firstTenantID, e.userID)
	}
	if len(w.removed) > 0 {
		b.Queue(`DELETE FROM memberships WHERE user_id = ANY($1)`, w.removed)
	}
	for _, s := range w.syncs {
		queueKeycloakSync(b, s.userID, s.writeName)
	}
	if len(w.dropSyncs) > 0 {
		b.Queue(`DELETE FROM keycloak_sync WHERE user_id = ANY($1)`, w.dropSyncs)
	}
	queueOutbox(b, w.outbox)
	b.Queue(`COMMIT`)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("write %d users: %w", len(w.dirty), err)
	}
	return nil
}

// noDeclaredTenants is the directory when the database has none: activation needs no lookup.
type noDeclaredTenants struct{}

func (noDeclaredTenants) DeclaredTenants(context.Context, string) ([]domain.DeclaredTenant, error) {
	return nil, nil
}

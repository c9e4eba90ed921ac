package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// OutboxEvent is one row of the outbox.
type OutboxEvent struct {
	Seq     int64
	ID      string
	Subject string
	Event   []byte
}

// outboxLock is the advisory lock key of the outbox drain (any constant; this one spells "outbox").
const outboxLock = 0x6f7574626f78

// DrainOutbox hands up to limit of the oldest outbox events to publish and deletes those it
// reports published (any of them: publish keeps each subject's order), in one transaction. One drain runs at a time across all replicas: it holds a
// transaction-scoped advisory lock, so two relays never publish events of one user side by side and out of
// order (with SKIP LOCKED alone, a second relay would take the next rows and could publish them first).
// Another replica's drain returns 0 at once; its rows go out in the lock holder's drain or the next poll.
// The lock ends with the transaction, also when its holder dies. A crash after publishing and before the
// commit republishes with the same Nats-Msg-Id, which JetStream drops as a duplicate.
//
// Two round trips: BEGIN, the lock and the read in one pipeline; the delete and COMMIT in another. The
// COMMIT does not wait for the disk (see lockOutbox).
func (s *Store) DrainOutbox(ctx context.Context, limit int, publish func(context.Context, []OutboxEvent) ([]OutboxEvent, error)) (int, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("outbox: %w", err)
	}
	// A connection released inside a transaction (an error below) is closed by the pool, never reused.
	defer conn.Release()
	batch, err := lockOutbox(ctx, conn.Conn(), limit)
	if err != nil || len(batch) == 0 {
		return 0, errors.Join(err, endTx(ctx, conn.Conn(), "COMMIT"))
	}
	// Events published before an error are still deleted: the publisher holds back their successors.
	published, perr := publish(ctx, batch)
	b := &pgx.Batch{}
	if len(published) > 0 {
		b.Queue(`DELETE FROM outbox WHERE seq = ANY($1)`, seqs(published))
	}
	b.Queue(`COMMIT`)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return 0, fmt.Errorf("delete published outbox rows: %w", errors.Join(err, endTx(ctx, conn.Conn(), "ROLLBACK")))
	}
	if perr != nil {
		return len(published), fmt.Errorf("publish outbox: %w", perr)
	}
	return len(published), nil
}

// lockOutbox begins the drain's transaction and, if this session gets the advisory lock, reads and locks
// up to limit of the oldest rows, in one round trip. Without the lock it returns no rows.
func lockOutbox(ctx context.Context, conn *pgx.Conn, limit int) ([]OutboxEvent, error) {
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	// The drain's commit need not wait for its WAL to reach the disk: a delete lost in a crash only
	// republishes its events under their ids, as a crash before the commit does. Waiting for the flush
	// held back every event committed during it until the next drain.
	b.Queue(`SET LOCAL synchronous_commit = off`)
	var batch []OutboxEvent
	b.Queue(`WITH lock AS MATERIALIZED (SELECT pg_try_advisory_xact_lock($1) AS mine)
		SELECT seq, id::text, subject, event FROM outbox WHERE (SELECT mine FROM lock) ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED`,
		int64(outboxLock), limit).Query(func(rows pgx.Rows) error {
		var err error
		batch, err = pgx.CollectRows(rows, pgx.RowToStructByPos[OutboxEvent])
		return err
	})
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("lock and read outbox: %w", errors.Join(err, endTx(ctx, conn, "ROLLBACK")))
	}
	return batch, nil
}

// endTx ends the drain's transaction when there is one (COMMIT of a failed transaction rolls it back).
func endTx(ctx context.Context, conn *pgx.Conn, stmt string) error {
	if conn.PgConn().TxStatus() == 'I' {
		return nil
	}
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("%s: %w", strings.ToLower(stmt), err)
	}
	return nil
}

func seqs(b []OutboxEvent) []int64 {
	out := make([]int64, len(b))
	for i, e := range b {
		out[i] = e.Seq
	}
	return out
}

// OutboxBacklog counts unpublished events and the age of the oldest.
func (s *Store) OutboxBacklog(ctx context.Context) (n int, oldest time.Duration, err error) {
	var age *float64
	err = s.pool.QueryRow(ctx, `SELECT count(*), extract(epoch FROM now() - min(created_at)) FROM outbox`).Scan(&n, &age)
	if err != nil {
		return 0, 0, fmt.Errorf("outbox backlog: %w", err)
	}
	if age != nil {
		oldest = time.Duration(*age * float64(time.Second))
	}
	return n, oldest, nil
}

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
// reports published (any of them: publish keeps each subject's order), in one transaction. One drain runs at a
// time across all replicas: it holds a transaction-scoped advisory lock, so two relays never publish events of
// one user side by side and out of order (with SKIP LOCKED alone, a second relay would take the next rows and
// could publish them first). Another replica's drain returns 0 at once; its rows go out in the lock holder's
// drain or the next poll. The lock ends with the transaction, also when its holder dies. A crash after
// publishing and before the commit republishes with the same Nats-Msg-Id, which JetStream drops as a duplicate.
//
// Two round trips: BEGIN, the lock and the read in one pipeline; the delete and COMMIT in another. The
// COMMIT does not wait for the disk (see queueLock).
func (s *Store) DrainOutbox(ctx context.Context, limit int, publish PublishFunc) (int, error) {
	return s.DrainOutboxWhile(ctx, limit, publish, func(int) bool { return false })
}

// PublishFunc publishes a batch of outbox events and reports those stored.
type PublishFunc func(context.Context, []OutboxEvent) ([]OutboxEvent, error)

// DrainOutboxWhile is DrainOutbox for as long as more, asked with the size of the batch just published,
// says events wait: a batch's delete and COMMIT then go in one round trip with the next batch's BEGIN, lock
// and read, so events committed during a drain wait one round trip less. It reports the events published.
func (s *Store) DrainOutboxWhile(ctx context.Context, limit int, publish PublishFunc, more func(batch int) bool) (int, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("outbox: %w", err)
	}
	// A connection released inside a transaction (an error below) is closed by the pool, never reused.
	defer conn.Release()
	c := conn.Conn()
	b := &pgx.Batch{}
	var batch []OutboxEvent
	queueLock(b, limit, &batch)
	if err := c.SendBatch(ctx, b).Close(); err != nil {
		return 0, fmt.Errorf("lock and read outbox: %w", errors.Join(err, endTx(ctx, c, "ROLLBACK")))
	}
	total := 0
	for len(batch) > 0 {
		// Events published before an error are still deleted: the publisher holds back their successors.
		published, perr := publish(ctx, batch)
		total += len(published)
		next := perr == nil && more(len(batch))
		b = &pgx.Batch{}
		if len(published) > 0 {
			b.Queue(`DELETE FROM outbox WHERE seq = ANY($1)`, seqs(published))
		}
		b.Queue(`COMMIT`)
		batch = nil
		if next {
			queueLock(b, limit, &batch)
		}
		if err := c.SendBatch(ctx, b).Close(); err != nil {
			return total, fmt.Errorf("delete published outbox rows: %w", errors.Join(err, endTx(ctx, c, "ROLLBACK")))
		}
		if perr != nil {
			return total, fmt.Errorf("publish outbox: %w", perr)
		}
		if !next {
			return total, nil
		}
	}
	return total, endTx(ctx, c, "COMMIT")
}

// queueLock queues the drain's BEGIN and, if this session gets the advisory lock, the read and lock of up to
// limit of the oldest rows into batch. Without the lock it reads no rows.
func queueLock(b *pgx.Batch, limit int, batch *[]OutboxEvent) {
	b.Queue(`BEGIN`)
	// The drain's commit need not wait for its WAL to reach the disk: a delete lost in a crash only
	// republishes its events under their ids, as a crash before the commit does. Waiting for the flush
	// held back every event committed during it until the next drain.
	b.Queue(`SET LOCAL synchronous_commit = off`)
	b.Queue(`WITH lock AS MATERIALIZED (SELECT pg_try_advisory_xact_lock($1) AS mine)
		SELECT seq, id::text, subject, event FROM outbox WHERE (SELECT mine FROM lock) ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED`,
		int64(outboxLock), limit).Query(func(rows pgx.Rows) error {
		var err error
		*batch, err = pgx.CollectRows(rows, pgx.RowToStructByPos[OutboxEvent])
		return err
	})
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

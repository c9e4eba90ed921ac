package store

import (
	"context"
	"fmt"
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
// reports published, in one transaction. One drain runs at a time across all replicas: it holds a
// transaction-scoped advisory lock, so two relays never publish events of one user side by side and out of
// order (with SKIP LOCKED alone, a second relay would take the next rows and could publish them first).
// Another replica's drain returns 0 at once; its rows go out in the lock holder's drain or the next poll.
// The lock ends with the transaction, also when its holder dies. A crash after publishing and before the
// commit republishes with the same Nats-Msg-Id, which JetStream drops as a duplicate.
func (s *Store) DrainOutbox(ctx context.Context, limit int, publish func(context.Context, []OutboxEvent) (int, error)) (int, error) {
	var published int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var mine bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, int64(outboxLock)).Scan(&mine); err != nil {
			return fmt.Errorf("outbox lock: %w", err)
		}
		if !mine {
			return nil
		}
		rows, err := tx.Query(ctx, `SELECT seq, id::text, subject, event FROM outbox ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED`, limit)
		if err != nil {
			return fmt.Errorf("read outbox: %w", err)
		}
		batch, err := pgx.CollectRows(rows, pgx.RowToStructByPos[OutboxEvent])
		if err != nil || len(batch) == 0 {
			return err
		}
		// Events published before an error are still deleted: their successors wait for the next round.
		published, err = publish(ctx, batch)
		if published > 0 {
			if _, derr := tx.Exec(ctx, `DELETE FROM outbox WHERE seq <= $1 AND seq = ANY($2)`, batch[published-1].Seq, seqs(batch[:published])); derr != nil {
				return fmt.Errorf("delete published outbox rows: %w", derr)
			}
		}
		if err != nil {
			return fmt.Errorf("publish outbox: %w", err)
		}
		return nil
	})
	return published, err
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

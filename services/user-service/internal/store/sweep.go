package store

import (
	"context"
	"fmt"

	"time"

	"github.com/jackc/pgx/v5"
)

// PendingUser is a user the sweep reads from Keycloak.
type PendingUser struct {
	ID, Realm string
}

// ClaimPending returns up to limit users pending for longer than olderThan and not swept within it, and
// marks them swept: two replicas never read the same user in one period, and a person who never verifies
// is read once per period, not once per round.
func (s *Store) ClaimPending(ctx context.Context, olderThan time.Duration, limit int) ([]PendingUser, error) {
	rows, err := s.pool.Query(ctx, `UPDATE users SET swept_at = now() WHERE id IN (
			SELECT id FROM users WHERE status = 'pending' AND created_at < now() - $1::interval
				AND (swept_at IS NULL OR swept_at < now() - $1::interval)
			ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)
		RETURNING id, realm`, olderThan.String(), limit)
	if err != nil {
		return nil, fmt.Errorf("claim pending users: %w", err)
	}
	users, err := pgx.CollectRows(rows, pgx.RowToStructByPos[PendingUser])
	if err != nil {
		return nil, fmt.Errorf("claim pending users: %w", err)
	}
	return users, nil
}

package store

import (
	"context"
	"fmt"
	"time"
)

// PruneInbox deletes the inbox entries processed more than keep ago, batch rows per statement so that no
// statement locks many rows or runs long beside the consumer; it returns how many it deleted. An entry is
// only needed while its event can still be redelivered or replayed, and an event processed before now-keep
// was stored on the bus before that too.
func (s *Store) PruneInbox(ctx context.Context, keep time.Duration, batch int) (int64, error) {
	var total int64
	for {
		tag, err := s.pool.Exec(ctx, `DELETE FROM processed_events WHERE id IN (
				SELECT id FROM processed_events WHERE processed_at < now() - $1 * interval '1 second' LIMIT $2)`,
			keep.Seconds(), batch)
		if err != nil {
			return total, fmt.Errorf("prune inbox: %w", err)
		}
		total += tag.RowsAffected()
		if err := ctx.Err(); err != nil {
			return total, fmt.Errorf("prune inbox: %w", err)
		}
		if tag.RowsAffected() < int64(batch) {
			return total, nil
		}
	}
}

package store_test

import (
	"context"
	"testing"
	"time"
)

// The inbox keeps what the bus can still redeliver and loses the rest, however many batches that takes.
func TestPruneInbox(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	// 25 entries from 31 days ago, 3 from 29 days ago, 2 from now.
	_, err := s.Pool().Exec(ctx, `INSERT INTO processed_events (id, processed_at)
		SELECT 'old-' || i, now() - interval '31 days' FROM generate_series(1, 25) i
		UNION ALL SELECT 'kept-' || i, now() - interval '29 days' FROM generate_series(1, 3) i
		UNION ALL SELECT 'new-' || i, now() FROM generate_series(1, 2) i`)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.PruneInbox(ctx, 720*time.Hour, 10)
	if err != nil {
		t.Fatal(err)
	}
	if n != 25 {
		t.Errorf("pruned %d, want 25", n)
	}
	var left, old int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE id LIKE 'old-%') FROM processed_events`).Scan(&left, &old); err != nil {
		t.Fatal(err)
	}
	if left != 5 || old != 0 {
		t.Errorf("%d entries left (%d old), want 5 (0 old)", left, old)
	}
	if n, err := s.PruneInbox(ctx, 720*time.Hour, 10); err != nil || n != 0 {
		t.Errorf("second prune: %d, %v", n, err)
	}
}

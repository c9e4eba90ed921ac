package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/connectedbbq/platform/pkg/events"
	"github.com/connectedbbq/platform/services/user-service/internal/store"
	"github.com/connectedbbq/platform/services/user-service/internal/store/storetest"
)

// The placement's lookups run in every batch of IdP events (whether any declared tenant exists) and in every
// activation (which ones place this address): they read the declared tenants, never the personal ones, which
// are one per user. Before the partial index (migration 00013) both were a sequential scan of all tenants.
func TestThePlacementLookupsReadNoPersonalTenant(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	declareAcme(t, s)
	if _, err := s.Pool().Exec(ctx, `INSERT INTO tenants (id, display_name, kind)
		SELECT 'personal-' || n, 'Personal ' || n, 'personal' FROM generate_series(1, 20000) n`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, `ANALYZE tenants`); err != nil {
		t.Fatal(err)
	}
	for name, q := range map[string]struct {
		sql  string
		args []any
	}{
		"any declared tenant":        {store.HasDeclaredTenants, nil},
		"declared tenants of a user": {store.DeclaredTenantsOf, []any{"boss@acme.example", "acme.example"}},
	} {
		rows, err := s.Pool().Query(ctx, "EXPLAIN "+q.sql, q.args...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if plan := strings.Join(lines, "\n"); strings.Contains(plan, "Seq Scan on tenants") || !strings.Contains(plan, "tenants_declared") {
			t.Errorf("%s reads tenants without the partial index of declared ones:\n%s", name, plan)
		}
	}
}

// The consumer's batches begin on a new database, whose users table is empty and has no statistics until
// autovacuum's first ANALYZE: the lock of a batch's users must read them by primary key all the same, also on a
// connection that planned it while the table was empty. Without statistics Postgres scanned the whole table for
// each batch, with the generic plan cached then comparing every row with every id: at full speed on a fresh
// database a third of Postgres's CPU (docs/benchmarks.md, sessions 15 and 16).
func TestTheBatchLockReadsNoOtherUserAsTheTableGrows(t *testing.T) {
	ctx := context.Background()
	d := storetest.Databases(t, srv)
	if _, err := store.Setup(ctx, d); err != nil {
		t.Fatal(err)
	}
	owner, err := pgx.Connect(ctx, d.Owner)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = owner.Close(ctx) }()
	// No ANALYZE may refresh the plans during the test (it is what would end the scans).
	if _, err := owner.Exec(ctx, `ALTER TABLE users SET (autovacuum_enabled = false)`); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(ctx, d.Service, 1) // one connection: the one whose plans are cached
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Batches of many users, as at full speed: a plan for one id is cheaper than the generic one and is kept.
	signUps := func(batch string) []events.Decoded {
		var ds []events.Decoded
		for i := range 50 {
			ds = append(ds, signUp(t, fmt.Sprintf("%s-%d", batch, i))...)
		}
		return ds
	}
	for i := range 10 { // past the 5 custom plans after which Postgres may keep a generic one
		if _, _, err := s.ApplyBatch(ctx, signUps(fmt.Sprintf("early-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := owner.Exec(ctx, `INSERT INTO users (id) SELECT 'bulk-' || n FROM generate_series(1, 20000) n`); err != nil {
		t.Fatal(err)
	}
	before := seqScans(t, owner)
	for i := range 5 {
		if _, _, err := s.ApplyBatch(ctx, signUps(fmt.Sprintf("late-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if after := seqScans(t, owner); after != before {
		t.Errorf("5 batches on 20,000 users scanned the users table %d times", after-before)
	}
}

// seqScans is how many sequential scans of users the statistics count, once every backend has reported its own
// (an idle backend reports within a second).
func seqScans(t *testing.T, c *pgx.Conn) int64 {
	t.Helper()
	time.Sleep(1500 * time.Millisecond)
	var n int64
	if err := c.QueryRow(context.Background(), `SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'users'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

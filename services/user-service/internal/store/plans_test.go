package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/connectedbbq/platform/services/user-service/internal/store"
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

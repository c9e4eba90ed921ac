// Package storetest gives a test its own migrated database and a Store on it.
package storetest

import (
	"context"
	"testing"

	"github.com/connectedbbq/platform/services/user-service/internal/store"
	"github.com/connectedbbq/platform/testing/pgtest"
)

// Open creates a database on srv for t, migrates it and opens a Store, closed when t ends.
func Open(t testing.TB, srv *pgtest.Server) *store.Store {
	t.Helper()
	ctx := context.Background()
	url := srv.NewDatabase(t)
	if _, err := store.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(ctx, url, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Package storetest gives a test its own migrated database and a Store on it, connected as the service is in
// production: the run time as a member of bbq_service, the API as a member of bbq_api only.
package storetest

import (
	"context"
	"testing"

	"github.com/connectedbbq/platform/services/user-service/internal/store"
	"github.com/connectedbbq/platform/testing/pgtest"
)

// Login roles of the tests (cluster-wide, shared by every test database of a server).
const (
	ServiceUser = "user_service"
	APIUser     = "user_service_api"
)

// Databases are a new database's three connections for t: its owner (the superuser), the service, the API.
func Databases(t testing.TB, srv *pgtest.Server) store.Databases {
	t.Helper()
	owner := srv.NewDatabase(t)
	return store.Databases{Owner: owner, Service: pgtest.WithUser(owner, ServiceUser, "test"), API: pgtest.WithUser(owner, APIUser, "test")}
}

// Open creates a database on srv for t, migrates it as its owner, and opens a Store with least privilege,
// closed when t ends.
func Open(t testing.TB, srv *pgtest.Server) *store.Store {
	t.Helper()
	return OpenDatabases(t, Databases(t, srv))
}

// OpenDatabases migrates d and opens a Store on it.
func OpenDatabases(t testing.TB, d store.Databases) *store.Store {
	t.Helper()
	ctx := context.Background()
	if _, err := store.Setup(ctx, d); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(ctx, d.Service, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.OpenCallers(ctx, d.API, 4); err != nil {
		t.Fatal(err)
	}
	return s
}

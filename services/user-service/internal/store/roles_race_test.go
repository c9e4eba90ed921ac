package store

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// A migration that lost the race for a cluster-wide role is run again; other failures are not.
func TestRoleRacesAreToldApart(t *testing.T) {
	for _, tc := range []struct {
		err  error
		race bool
	}{
		{&pgconn.PgError{Code: "42704", Message: `role "bbq_service" does not exist`}, true},
		{&pgconn.PgError{Code: "42710", Message: `role "bbq_api" already exists`}, true},
		{&pgconn.PgError{Code: "23505", ConstraintName: "pg_authid_rolname_index"}, true},
		{&pgconn.PgError{Code: "42704", Message: `type "citext" does not exist`}, false},
		{&pgconn.PgError{Code: "23505", ConstraintName: "users_pkey"}, false},
		{errors.New("connection refused"), false},
	} {
		if got := roleRace(fmt.Errorf("migrate: %w", tc.err)); got != tc.race {
			t.Errorf("%v: race %v; want %v", tc.err, got, tc.race)
		}
	}
}

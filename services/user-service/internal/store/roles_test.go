package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/connectedbbq/platform/services/user-service/internal/store"
	"github.com/connectedbbq/platform/services/user-service/internal/store/storetest"
)

var errRollback = errors.New("rollback")

// The API's connection is confined to bbq_api: RESET ROLE, SET ROLE and SET SESSION AUTHORIZATION from it
// gain nothing, so a query that escaped its transaction's role still sees only the caller's rows. (With the
// older set-up, SET LOCAL ROLE bbq_api on the service's connection, RESET ROLE saw every row.)
func TestTheAPIConnectionCannotLeaveRowLevelSecurity(t *testing.T) {
	ctx := context.Background()
	d := storetest.Databases(t, srv)
	s := storetest.OpenDatabases(t, d)
	if _, _, err := s.ApplyBatch(ctx, append(signUp(t, "u-a"), signUp(t, "u-b")...)); err != nil {
		t.Fatal(err)
	}
	api, err := pgx.Connect(ctx, d.API)
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close(ctx)
	visible := func(t *testing.T, tx pgx.Tx) int {
		t.Helper()
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	escapes := []struct {
		name, sql string
		refused   bool // the statement itself fails; else it runs and must gain nothing
	}{
		{"RESET ROLE", `RESET ROLE`, false},
		{"SET ROLE NONE", `SET ROLE NONE`, false},
		{"SET ROLE bbq_service", `SET ROLE bbq_service`, true},
		{"SET ROLE postgres", `SET ROLE postgres`, true},
		{"SET ROLE the service's login", `SET ROLE ` + storetest.ServiceUser, true},
		{"SET SESSION AUTHORIZATION postgres", `SET SESSION AUTHORIZATION postgres`, true},
	}
	for _, e := range escapes {
		t.Run(e.name, func(t *testing.T) {
			err := pgx.BeginFunc(ctx, api, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, `SET LOCAL ROLE bbq_api`); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `SELECT set_config('app.user_id', 'u-a', true)`); err != nil {
					return err
				}
				if n := visible(t, tx); n != 1 {
					t.Fatalf("as bbq_api the caller sees %d users, want 1", n)
				}
				_, err := tx.Exec(ctx, e.sql)
				if e.refused {
					var pgErr *pgconn.PgError
					if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
						t.Fatalf("%s: %v, want permission denied (42501)", e.sql, err)
					}
					return errRollback
				}
				if err != nil {
					return err
				}
				if n := visible(t, tx); n != 1 {
					t.Fatalf("after %s the connection sees %d users, want still 1", e.sql, n)
				}
				if _, err := tx.Exec(ctx, `UPDATE users SET email = 'x@example.com'`); err == nil {
					t.Fatalf("after %s the connection changed emails", e.sql)
				}
				return errRollback
			})
			if !errors.Is(err, errRollback) {
				t.Fatal(err)
			}
		})
	}
	t.Run("the older set-up, SET LOCAL ROLE on an all-powerful connection, is left by RESET ROLE", func(t *testing.T) {
		owner, err := pgx.Connect(ctx, d.Owner)
		if err != nil {
			t.Fatal(err)
		}
		defer owner.Close(ctx)
		err = pgx.BeginFunc(ctx, owner, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SET LOCAL ROLE bbq_api; RESET ROLE`); err != nil {
				return err
			}
			if n := visible(t, tx); n != 2 {
				t.Fatalf("after RESET ROLE the superuser's connection sees %d users, want all 2 (the escape this closes)", n)
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatal(err)
		}
	})
	t.Run("the API pool refuses a role that could leave bbq_api", func(t *testing.T) {
		err := s.OpenCallers(ctx, d.Owner, 2)
		if err == nil || !strings.Contains(err.Error(), "superuser") {
			t.Fatalf("OpenCallers as the superuser: %v, want a refusal", err)
		}
		err = s.OpenCallers(ctx, d.Service, 2)
		if err == nil || !strings.Contains(err.Error(), "besides bbq_api") {
			t.Fatalf("OpenCallers as the service: %v, want a refusal", err)
		}
	})
}

// The service's run-time role owns nothing and may change no schema: dropping or altering a table, or
// reading the migrations' bookkeeping, is refused; it still sees every row past row-level security.
func TestTheServiceRoleOwnsNothing(t *testing.T) {
	ctx := context.Background()
	d := storetest.Databases(t, srv)
	s := storetest.OpenDatabases(t, d)
	if _, _, err := s.ApplyBatch(ctx, append(signUp(t, "u-a"), signUp(t, "u-b")...)); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, d.Service)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var owned, users int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND pg_has_role(current_user, c.relowner, 'USAGE')`).Scan(&owned); err != nil {
		t.Fatal(err)
	}
	if owned != 0 {
		t.Errorf("the service's role owns %d relations, want 0", owned)
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&users); err != nil || users != 2 {
		t.Errorf("the service sees %d users (%v), want 2", users, err)
	}
	for _, sql := range []string{`DROP TABLE outbox`, `ALTER TABLE users DISABLE ROW LEVEL SECURITY`, `TRUNCATE users CASCADE`,
		`CREATE TABLE public.mine (id int)`, `SELECT count(*) FROM goose_db_version`, `SET ROLE bbq_api`} {
		_, err := conn.Exec(ctx, sql)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || (pgErr.Code != "42501" && pgErr.Code != "42P01") {
			t.Errorf("%s as the service: %v, want permission denied", sql, err)
		}
	}
}

// Every table under row-level security lets the service through (migration 00010's policy): a later
// migration that enables it without the policy would hide that table's rows from the service.
func TestEveryRowLevelSecurityTableHasTheServicePolicy(t *testing.T) {
	ctx := context.Background()
	d := storetest.Databases(t, srv)
	storetest.OpenDatabases(t, d)
	conn, err := pgx.Connect(ctx, d.Owner)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relrowsecurity
		  AND NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND $1::regrole::oid = ANY (p.polroles))`, store.RoleService)
	if err != nil {
		t.Fatal(err)
	}
	missing, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) > 0 {
		t.Fatalf("tables under row-level security without a policy for %s: %v", store.RoleService, missing)
	}
}

// An external or CloudNativePG database: its owner may not create roles (no CREATEROLE), and its administrator
// made the group and login roles beforehand (docs/security.md). The migrations and the provisioning accept that,
// and the service runs.
func TestAnOwnerWithoutCreateRoleMigratesWhereTheRolesExist(t *testing.T) {
	ctx := context.Background()
	d := storetest.Databases(t, srv)
	admin, err := pgx.Connect(ctx, d.Owner) // the superuser, as the database's administrator
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var db string
	if err := admin.QueryRow(ctx, `SELECT current_database()`).Scan(&db); err != nil {
		t.Fatal(err)
	}
	owner := "owner_" + db
	for _, sql := range []string{
		`CREATE ROLE ` + owner + ` LOGIN NOCREATEROLE NOSUPERUSER`,
		`ALTER DATABASE ` + pgx.Identifier{db}.Sanitize() + ` OWNER TO ` + owner,
		// The group roles are cluster-wide: other tests' migrations may be making them at the same time.
		`DO $$ BEGIN CREATE ROLE bbq_api NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`,
		`DO $$ BEGIN CREATE ROLE bbq_service NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`,
	} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	dsn := d.Owner
	t.Cleanup(func() { // before the database is dropped: the role owns it and its tables
		ctx := context.Background()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, `REASSIGN OWNED BY `+owner+` TO postgres; DROP OWNED BY `+owner+`; DROP ROLE `+owner)
	})
	if err := store.Provision(ctx, store.Databases{Owner: d.Owner, Service: d.Service, API: d.API}); err != nil {
		t.Fatal(err) // the administrator's login roles, members of the groups
	}
	d.Owner = strings.Replace(d.Owner, "postgres@", owner+"@", 1)
	s := storetest.OpenDatabases(t, d)
	if _, _, err := s.ApplyBatch(ctx, signUp(t, "u-owned")); err != nil {
		t.Fatal(err)
	}
	var tableOwner string
	if err := admin.QueryRow(ctx, `SELECT tableowner FROM pg_tables WHERE tablename = 'users'`).Scan(&tableOwner); err != nil || tableOwner != owner {
		t.Fatalf("users is owned by %q (%v), want the migrating owner %s", tableOwner, err, owner)
	}
}

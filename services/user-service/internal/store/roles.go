package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The group roles the migrations grant to (00002, 00010). Login roles are members of one of them.
const (
	RoleService = "bbq_service" // the service at run time: rows of every table, owns nothing
	RoleAPI     = "bbq_api"     // the API's tenant-scoped reads, under row-level security
)

// Databases are the three connections of the least-privilege set-up: Owner migrates (owns the schema),
// Service is the run time (a member of bbq_service), API the API's reads (a member of bbq_api only).
// Service alone (Owner and API empty) is the older set-up of one all-powerful role.
type Databases struct {
	Owner, Service, API string
}

// Migrator is the URL the migrations run with: Owner, else Service.
func (d Databases) Migrator() string {
	if d.Owner != "" {
		return d.Owner
	}
	return d.Service
}

// Setup migrates as Migrator, then provisions the login roles.
func Setup(ctx context.Context, d Databases) ([]string, error) {
	applied, err := Migrate(ctx, d.Migrator())
	if err != nil {
		return nil, err
	}
	return applied, Provision(ctx, d)
}

// Provision makes Service's and API's users login roles that are members of bbq_service and bbq_api, with
// the passwords their URLs carry, connected as Migrator (which needs CREATEROLE). Where it may not, roles
// that an operator made already are accepted; others are an error that says what to create.
func Provision(ctx context.Context, d Databases) error {
	owner := d.Migrator()
	conn, err := pgx.Connect(ctx, owner)
	if err != nil {
		return fmt.Errorf("connect to postgres to provision roles: %w", err)
	}
	defer conn.Close(ctx)
	var self string
	if err := conn.QueryRow(ctx, `SELECT current_user`).Scan(&self); err != nil {
		return fmt.Errorf("provision roles: %w", err)
	}
	for _, l := range []struct{ url, group string }{{d.Service, RoleService}, {d.API, RoleAPI}} {
		if l.url == "" || l.url == owner {
			continue
		}
		user, password, err := credentials(l.url)
		if err != nil {
			return err
		}
		if user == self {
			continue // the migrator itself runs the service: the older set-up
		}
		if err := provisionLogin(ctx, conn, user, password, l.group); err != nil {
			return err
		}
	}
	return nil
}

func credentials(dsn string) (user, password string, err error) {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return "", "", fmt.Errorf("database URL: %w", err)
	}
	if cfg.User == "" {
		return "", "", errors.New("database URL names no user")
	}
	return cfg.User, cfg.Password, nil
}

// provisionLogin creates or updates user as a login member of group, retrying the races of several replicas
// (roles are cluster-wide, so concurrent creations collide).
func provisionLogin(ctx context.Context, conn *pgx.Conn, user, password, group string) error {
	var err error
	for attempt := range 5 {
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, user).Scan(&exists); err != nil {
				return err
			}
			verb := "CREATE"
			if exists {
				verb = "ALTER"
			}
			var ddl string
			if err := tx.QueryRow(ctx, `SELECT format('`+verb+` ROLE %I LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB PASSWORD %L', $1::text, $2::text)`,
				user, password).Scan(&ddl); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, ddl); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `GRANT `+pgx.Identifier{group}.Sanitize()+` TO `+pgx.Identifier{user}.Sanitize())
			return err
		})
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || (pgErr.Code != "42710" && pgErr.Code != "XX000" && pgErr.Code != "40001" && pgErr.Code != "23505") {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 20 * time.Millisecond)
	}
	if err == nil {
		return nil
	}
	var member bool
	if qerr := conn.QueryRow(ctx, `SELECT pg_has_role($1, $2, 'MEMBER') FROM pg_roles WHERE rolname = $1`, user, group).Scan(&member); qerr == nil && member {
		return nil // made by the database's operator; the migrator may not manage roles
	}
	return fmt.Errorf("provision login role %s as a member of %s (create it, or let the migrating role CREATEROLE): %w", user, group, err)
}

// OpenCallers gives the API its own pool at url, whose role must be able to gain nothing beyond bbq_api: not a
// superuser, not BYPASSRLS, a member of no role but bbq_api (so RESET ROLE and SET ROLE lead nowhere else).
func (s *Store) OpenCallers(ctx context.Context, dsn string, maxConns int32) error {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("API_DATABASE_URL: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect to postgres (API): %w", err)
	}
	if err := checkConfined(ctx, pool); err != nil {
		pool.Close()
		return err
	}
	s.callers = pool
	return nil
}

// checkConfined refuses an API role that could leave bbq_api.
func checkConfined(ctx context.Context, pool *pgxpool.Pool) error {
	var user string
	var super, bypass bool
	var others []string
	err := pool.QueryRow(ctx, `SELECT r.rolname, r.rolsuper, r.rolbypassrls,
		    ARRAY(SELECT g.rolname FROM pg_roles g WHERE g.rolname <> $1 AND g.oid <> r.oid AND pg_has_role(r.oid, g.oid, 'MEMBER'))
		FROM pg_roles r WHERE r.rolname = current_user`, RoleAPI).Scan(&user, &super, &bypass, &others)
	if err != nil {
		return fmt.Errorf("check the API's database role: %w", err)
	}
	if user == RoleAPI {
		return nil
	}
	var member bool
	if err := pool.QueryRow(ctx, `SELECT pg_has_role(current_user, $1, 'USAGE')`, RoleAPI).Scan(&member); err != nil {
		return fmt.Errorf("check the API's database role: %w", err)
	}
	switch {
	case super || bypass:
		return fmt.Errorf("API_DATABASE_URL's role %s is a superuser or bypasses row-level security: give the API a login role that is a member of %s only", user, RoleAPI)
	case len(others) > 0:
		return fmt.Errorf("API_DATABASE_URL's role %s is a member of %v besides %s: RESET ROLE or SET ROLE would leave row-level security", user, others, RoleAPI)
	case !member:
		return fmt.Errorf("API_DATABASE_URL's role %s is not a member of %s (user-service migrate provisions it)", user, RoleAPI)
	}
	return nil
}

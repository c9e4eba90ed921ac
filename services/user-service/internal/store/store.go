// Package store is the user service's Postgres: the schema (embedded goose migrations), a repository
// around the domain (internal/domain: load and lock a user, apply, save its row and its announcements to
// the outbox, batched and pipelined), the declared tenants, and the tenant-scoped reads of the API under
// row-level security.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/connectedbbq/platform/services/user-service/internal/domain"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the service's database.
type Store struct {
	pool *pgxpool.Pool
	// callers is the API's own pool, as a login role that is a member of bbq_api only (OpenCallers); nil: the
	// API's reads share pool and SET LOCAL ROLE bbq_api, which a RESET ROLE would leave.
	callers *pgxpool.Pool
	// Notify is poked after a commit that added outbox rows, so the relay publishes at once.
	Notify func()
	// NotifyMail, when set, is poked after a commit that queued an invitation mail.
	NotifyMail func()
	// InvitationLimits: the TTL and hourly limit of invitations (zero values: the defaults).
	InvitationLimits domain.InvitationLimits
}

// Open connects to url. It does not migrate.
func Open(ctx context.Context, url string, maxConns int32) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	return &Store{pool: pool, Notify: func() {}}, nil
}

// Close closes the pools.
func (s *Store) Close() {
	s.pool.Close()
	if s.callers != nil {
		s.callers.Close()
	}
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Pool exposes the pool to tests and the benchmark.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Migrate brings the schema at url up to date. It is safe to run concurrently from several
// replicas: goose takes a Postgres advisory lock.
func Migrate(ctx context.Context, url string) (applied []string, err error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close() //nolint:errcheck // nothing to do about it on the way out
	return migrate(ctx, db)
}

func migrate(ctx context.Context, db *sql.DB) ([]string, error) {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, mustSub(migrations, "migrations"), goose.WithSessionLocker(locker))
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	// The group roles (00002, 00010) are the cluster's, made by whichever database migrates first. Two databases
	// of one cluster migrating at once (two releases on one Postgres, parallel tests) can race on them: the
	// loser's migration fails and is rolled back whole, so it is run again.
	var names []string
	for attempt := 1; ; attempt++ {
		results, err := p.Up(ctx)
		var partial *goose.PartialError
		if errors.As(err, &partial) {
			results = partial.Applied
		}
		for _, r := range results {
			names = append(names, r.Source.Path)
		}
		if err == nil {
			return names, nil
		}
		if attempt == 3 || !roleRace(err) {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
	}
}

// roleRace says whether a migration failed on a role another database's migration was making at that moment.
func roleRace(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "42704", "42710": // undefined_object, duplicate_object
		return strings.HasPrefix(pgErr.Message, "role ")
	case "23505": // unique_violation
		return pgErr.ConstraintName == "pg_authid_rolname_index"
	}
	return false
}

// inTx runs f in a transaction, retrying serialization failures a few times.
func (s *Store) inTx(ctx context.Context, f func(pgx.Tx) error) error { return inTxOn(ctx, s.pool, f) }

func inTxOn(ctx context.Context, pool *pgxpool.Pool, f func(pgx.Tx) error) error {
	var err error
	for attempt := range 3 {
		err = pgx.BeginFunc(ctx, pool, f)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || (pgErr.Code != "40001" && pgErr.Code != "40P01") {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * 10 * time.Millisecond)
	}
	return err
}

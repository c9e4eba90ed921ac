// Package pgtest gives each test its own database on a real Postgres server that one test binary
// shares. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &srv)) }
//
// and in each test: dsn := srv.NewDatabase(t).
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/connectedbbq/platform/testing/embedded"
)

// Server is a Postgres server started for one test binary.
type Server struct {
	PG  *embedded.Postgres
	seq atomic.Int64
}

// Main starts a server, runs the tests and stops it. It returns the exit code for os.Exit.
func Main(m *testing.M, srv **Server) int {
	s, stop, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	defer stop()
	*srv = s
	return m.Run()
}

// Start starts a server for a test binary that composes several harnesses in its TestMain.
func Start() (*Server, func(), error) {
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pg, err := embedded.StartPostgres(ctx, embedded.PostgresConfig{Dir: dir, Fast: true})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("start postgres: %w", err)
	}
	return &Server{PG: pg}, func() { _ = pg.Stop(); os.RemoveAll(dir) }, nil
}

// NewDatabase creates an empty database for t, dropped when t ends, and returns its URL.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d_%s", s.seq.Add(1), sanitize(t.Name()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = s.exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	return s.PG.URL(name)
}

// WithUser is dsn with user and password in place of its credentials: how a test connects to the same
// database as a least-privilege login role (the server trusts loopback, so the password is not checked here;
// it is in the chart's Postgres).
func WithUser(dsn, user, password string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		panic(fmt.Sprintf("pgtest: %v", err)) // our own URLs always parse
	}
	u.User = url.UserPassword(user, password)
	return u.String()
}

func (s *Server) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.PG.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

func sanitize(name string) string {
	name = strings.ToLower(name)
	b := strings.Builder{}
	for _, r := range name {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if len(s) > 40 {
		s = s[:40]
	}
	return s
}

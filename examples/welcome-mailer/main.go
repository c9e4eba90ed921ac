// Command welcome-mailer is the pattern for a downstream consumer of the bus (proto/asyncapi.yaml): its own
// durable consumer of events.users.user.created, with the read-only NATS credentials, and its own inbox of the
// CloudEvent ids it applied, so that a redelivered or replayed event sends no second welcome. It "sends" by
// logging; a real one would call its mail service in Sender.
//
//	NATS_URL, NATS_USER, NATS_PASSWORD (the reader), DATABASE_URL, BUS_STREAM (EVENTS), CONSUMER_NAME (welcome-mailer)
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, os.Getenv); err != nil {
		log.Error("welcome-mailer", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, env func(string) string) error {
	db, err := pgxpool.New(ctx, env("DATABASE_URL"))
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer db.Close()
	nc, err := Connect(env("NATS_URL"), env("NATS_USER"), env("NATS_PASSWORD"))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	m := &Mailer{DB: db, Log: log, Send: func(_ context.Context, to, name string) error {
		log.Info("welcome sent", "to", to, "name", name)
		return nil
	}}
	if err := m.Migrate(ctx); err != nil {
		return err
	}
	return m.Consume(ctx, js, or(env("BUS_STREAM"), "EVENTS"), or(env("CONSUMER_NAME"), "welcome-mailer"))
}

// Connect connects as user; replies come back on the user's own inbox prefix, the only one it may read.
func Connect(url, user, password string) (*nats.Conn, error) {
	opts := []nats.Option{nats.Name("welcome-mailer"), nats.MaxReconnects(-1)}
	if user != "" {
		opts = append(opts, nats.UserInfo(user, password), nats.CustomInboxPrefix("_INBOX_"+user))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats as %q: %w", user, err)
	}
	return nc, nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

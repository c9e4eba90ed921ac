package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectedbbq/platform/pkg/events"
	eventsv1 "github.com/connectedbbq/platform/pkg/gen/bbq/events/v1"
)

// Sender delivers one welcome mail.
type Sender func(ctx context.Context, to, name string) error

// Mailer welcomes each confirmed user once, however often the bus delivers their UserCreated.
type Mailer struct {
	DB   *pgxpool.Pool
	Send Sender
	Log  *slog.Logger
}

// inboxSchema is the mailer's own inbox: the CloudEvent ids it has applied.
const inboxSchema = `CREATE TABLE IF NOT EXISTS welcome_inbox (
	event_id     text PRIMARY KEY,
	user_id      text NOT NULL,
	processed_at timestamptz NOT NULL DEFAULT now())`

// Migrate creates the inbox table.
func (m *Mailer) Migrate(ctx context.Context) error {
	if _, err := m.DB.Exec(ctx, inboxSchema); err != nil {
		return fmt.Errorf("create inbox: %w", err)
	}
	return nil
}

// errPoison marks a message no redelivery can fix.
var errPoison = errors.New("not a UserCreated event")

// Handle applies one message body. The inbox row and the send share a transaction: a failed send rolls the row
// back so the redelivery tries again; a repeated event finds its row and does nothing. (A crash between the
// send and the commit sends twice: a mail cannot be part of a database transaction.)
func (m *Mailer) Handle(ctx context.Context, body []byte) error {
	d, err := events.Decode(body)
	if err != nil {
		return fmt.Errorf("%w: %w", errPoison, err)
	}
	created, ok := d.Data.(*eventsv1.UserCreated)
	if !ok || created.GetUser().GetEmail() == "" {
		return fmt.Errorf("%w: %s without a user email", errPoison, d.Event.Type())
	}
	tx, err := m.DB.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	tag, err := tx.Exec(ctx, `INSERT INTO welcome_inbox (event_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
		d.Event.ID(), created.GetUser().GetUserId())
	if err != nil {
		return fmt.Errorf("inbox %s: %w", d.Event.ID(), err)
	}
	if tag.RowsAffected() == 0 {
		m.Log.Info("already welcomed", "event", d.Event.ID(), "user", created.GetUser().GetUserId())
		return nil
	}
	if err := m.Send(ctx, created.GetUser().GetEmail(), created.GetUser().GetName()); err != nil {
		return fmt.Errorf("send welcome to %s: %w", created.GetUser().GetUserId(), err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit %s: %w", d.Event.ID(), err)
	}
	return nil
}

// ConsumerConfig is the mailer's own durable consumer: only UserCreated, every message acknowledged.
func ConsumerConfig(durable string) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       durable,
		Description:   "welcome-mailer: one welcome per confirmed user",
		FilterSubject: events.UserCreated.Subject,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxDeliver:    20,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
}

// Consume runs the mailer on the stream's durable consumer until ctx ends.
func (m *Mailer) Consume(ctx context.Context, js jetstream.JetStream, stream, durable string) error {
	cons, err := js.CreateOrUpdateConsumer(ctx, stream, ConsumerConfig(durable))
	if err != nil {
		return fmt.Errorf("consumer %s: %w", durable, err)
	}
	cc, err := cons.Consume(func(msg jetstream.Msg) { m.apply(ctx, msg) })
	if err != nil {
		return fmt.Errorf("consume %s: %w", durable, err)
	}
	<-ctx.Done()
	cc.Drain()
	<-cc.Closed()
	return nil
}

func (m *Mailer) apply(ctx context.Context, msg jetstream.Msg) {
	err := m.Handle(ctx, msg.Data())
	switch {
	case err == nil:
		if err := msg.Ack(); err != nil {
			m.Log.Warn("ack", "err", err)
		}
	case errors.Is(err, errPoison):
		m.Log.Error("dropping message", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
	default:
		m.Log.Warn("will retry", "err", err)
		_ = msg.NakWithDelay(time.Second)
	}
}

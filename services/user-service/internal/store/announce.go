package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/connectedbbq/platform/pkg/events"
	"github.com/connectedbbq/platform/services/user-service/internal/domain"
)

// outboxEvent is a CloudEvent waiting in the outbox.
type outboxEvent struct {
	id      uuid.UUID
	subject string
	body    []byte
}

// outboxEvents wraps the domain's announcements in CloudEvents, carrying the cause's trace.
func outboxEvents(as []domain.Announcement, traceParent string) ([]outboxEvent, error) {
	out := make([]outboxEvent, 0, len(as))
	for _, a := range as {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, fmt.Errorf("outbox id: %w", err)
		}
		ev, err := events.New(a.Kind, events.Meta{ID: id.String(), Source: events.UsersSource, Subject: a.Subject,
			Time: time.Now(), TraceParent: traceParent}, a.Data)
		if err != nil {
			return nil, err
		}
		body, err := events.Encode(ev)
		if err != nil {
			return nil, err
		}
		out = append(out, outboxEvent{id: id, subject: a.Kind.Subject, body: body})
	}
	return out, nil
}

// queueOutbox adds the events, in order, in one statement.
func queueOutbox(b *pgx.Batch, evs []outboxEvent) {
	if len(evs) == 0 {
		return
	}
	ids, subjects, bodies := make([]uuid.UUID, len(evs)), make([]string, len(evs)), make([][]byte, len(evs))
	for i, ev := range evs {
		ids[i], subjects[i], bodies[i] = ev.id, ev.subject, ev.body
	}
	b.Queue(`INSERT INTO outbox (id, subject, event)
		SELECT id, subject, event FROM unnest($1::uuid[], $2::text[], $3::bytea[]) WITH ORDINALITY AS e(id, subject, event, n) ORDER BY n`,
		ids, subjects, bodies)
}

// queueKeycloakSync asks the write-back to bring the user's Keycloak account in line: always the tenant, and
// the name only with writeName (a rename through our API), which a pending request keeps until it is done.
func queueKeycloakSync(b *pgx.Batch, userID string, writeName bool) {
	b.Queue(`INSERT INTO keycloak_sync (user_id, write_name) VALUES ($1, $2)
		ON CONFLICT (user_id) DO UPDATE SET requested_at = clock_timestamp(), next_attempt_at = now(), attempts = 0,
			write_name = keycloak_sync.write_name OR EXCLUDED.write_name`, userID, writeName)
}

// announceInTx adds the announcements to the outbox of tx.
func announceInTx(ctx context.Context, tx pgx.Tx, as []domain.Announcement) error {
	evs, err := outboxEvents(as, "")
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	queueOutbox(b, evs)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

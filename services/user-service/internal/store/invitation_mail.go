package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// InvitationMail is a queued invitation mail, with what its text needs.
type InvitationMail struct {
	InvitationID, Token, Email, Role, TenantName, InvitedByName string
	ExpiresAt                                                   time.Time
	Attempt                                                     int // 1 for the first try
}

// MailOutcome is what became of one queued mail.
type MailOutcome string

// Outcomes of SendInvitationMail.
const (
	MailNone    MailOutcome = ""        // nothing was due
	MailSent    MailOutcome = "sent"    // handed to the SMTP server
	MailFailed  MailOutcome = "failed"  // the send failed; retried later
	MailDropped MailOutcome = "dropped" // the invitation is no longer pending: not sent
)

// SendInvitationMail claims the oldest due mail (FOR UPDATE SKIP LOCKED, so replicas never send the same row)
// and, in the same transaction, sends it and deletes it. A failed send stays queued with a later attempt
// (retry(attempt) from now); a crash or a lost commit leaves the row, to be sent again: at least once, and a
// second copy only if the process dies between the SMTP server's acceptance and the commit.
//
// The claim locks the invitation too, before the mail's row is held through SMTP: accept, revoke and resend
// lock the invitation first and then the mail, so they wait for a send in progress instead of closing a
// cycle with the sender's closing write of the invitation (which Postgres broke after deadlock_timeout).
func (s *Store) SendInvitationMail(ctx context.Context, send func(context.Context, InvitationMail) error, retry func(attempt int) time.Duration) (MailOutcome, error) {
	outcome, sendErr := MailNone, error(nil)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var m InvitationMail
		var pending bool
		err := tx.QueryRow(ctx, `SELECT m.invitation_id::text, m.token, i.email, i.role, t.display_name, COALESCE(u.name, ''),
				i.expires_at, m.attempts + 1, i.status = 'pending' AND i.expires_at > now()
			FROM invitation_mails m JOIN invitations i ON i.id = m.invitation_id JOIN tenants t ON t.id = i.tenant_id
				LEFT JOIN users u ON u.id = i.invited_by
			WHERE m.next_attempt_at <= now() ORDER BY m.next_attempt_at LIMIT 1 FOR UPDATE OF i, m SKIP LOCKED`).
			Scan(&m.InvitationID, &m.Token, &m.Email, &m.Role, &m.TenantName, &m.InvitedByName, &m.ExpiresAt, &m.Attempt, &pending)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("claim invitation mail: %w", err)
		}
		if !pending {
			outcome = MailDropped
			_, err := tx.Exec(ctx, `DELETE FROM invitation_mails WHERE invitation_id = $1`, m.InvitationID)
			return err
		}
		if sendErr = send(ctx, m); sendErr != nil {
			outcome = MailFailed
			_, err := tx.Exec(ctx, `UPDATE invitation_mails SET attempts = attempts + 1, next_attempt_at = now() + $2::interval,
				last_error = left($3, 500) WHERE invitation_id = $1`, m.InvitationID, retry(m.Attempt).String(), sendErr.Error())
			return err
		}
		outcome = MailSent
		b := &pgx.Batch{}
		b.Queue(`DELETE FROM invitation_mails WHERE invitation_id = $1`, m.InvitationID)
		b.Queue(`UPDATE invitations SET sent_count = sent_count + 1, last_sent_at = now() WHERE id = $1`, m.InvitationID)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return MailNone, fmt.Errorf("invitation mail: %w", err)
	}
	if sendErr != nil {
		return outcome, fmt.Errorf("send invitation mail: %w", sendErr)
	}
	return outcome, nil
}

// InvitationMailBacklog counts the mails waiting to be sent.
func (s *Store) InvitationMailBacklog(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM invitation_mails`).Scan(&n); err != nil {
		return 0, fmt.Errorf("invitation mail backlog: %w", err)
	}
	return n, nil
}

package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/connectedbbq/platform/services/user-service/internal/domain"
)

// InvitationView is an invitation as the tenant's admins see it.
type InvitationView struct {
	ID            string     `json:"id"`
	Email         string     `json:"email"`
	Role          string     `json:"role"`
	Status        string     `json:"status"`
	CreatedAt     time.Time  `json:"createdAt"`
	ExpiresAt     time.Time  `json:"expiresAt"`
	InvitedBy     string     `json:"invitedBy"`
	InvitedByName string     `json:"invitedByName"`
	AcceptedBy    string     `json:"acceptedBy,omitempty"`
	AcceptedAt    *time.Time `json:"acceptedAt,omitempty"`
}

// InvitationPreview is what the holder of a link sees before accepting.
type InvitationPreview struct {
	TenantID      string    `json:"tenantId"`
	TenantName    string    `json:"tenantName"`
	Role          string    `json:"role"`
	Email         string    `json:"email"`
	Status        string    `json:"status"`
	ExpiresAt     time.Time `json:"expiresAt"`
	InvitedByName string    `json:"invitedByName"`
}

// shownStatus is an invitation's status as people see it: pending past its expiry is expired ($1 = now).
const shownStatus = `CASE WHEN i.status = 'pending' AND i.expires_at <= $1 THEN 'expired' ELSE i.status END`

const invitationViewColumns = `i.id::text, i.email, i.role, ` + shownStatus + `, i.created_at, i.expires_at, i.invited_by,
	COALESCE(u.name, ''), COALESCE(i.accepted_by, ''), i.accepted_at`

func (s *Store) invitationLimits() domain.InvitationLimits { return s.InvitationLimits.WithDefaults() }

// Invitations lists the active tenant's invitations, newest first, with status "" meaning all. It runs as
// bbq_api: row-level security shows the invitations to the tenant's admins only.
func (s *Store) Invitations(ctx context.Context, c Caller, status string) ([]InvitationView, error) {
	var out []InvitationView
	err := s.asCaller(ctx, c, func(tx pgx.Tx) error {
		var role string
		err := tx.QueryRow(ctx, `SELECT role FROM memberships WHERE tenant_id = app_active_tenant() AND user_id = $1`, c.UserID).Scan(&role)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("user %s in tenant %s: %w", c.UserID, c.TenantID, ErrNotInTenant)
		}
		if err != nil {
			return err
		}
		if domain.Role(role) != domain.Admin {
			return domain.ErrNotInviter
		}
		rows, err := tx.Query(ctx, `SELECT * FROM (SELECT `+invitationViewColumns+`
			FROM invitations i LEFT JOIN users u ON u.id = i.invited_by WHERE i.tenant_id = $2) v
			WHERE $3 = '' OR v.status = $3 ORDER BY v.created_at DESC, v.id DESC LIMIT 1000`, time.Now(), c.TenantID, status)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowToStructByPos[InvitationView])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list invitations of %s: %w", c.TenantID, err)
	}
	return out, nil
}

// Invite invites email (normalised by the caller) with role into the caller's active tenant; the mail is
// queued in the same transaction.
func (s *Store) Invite(ctx context.Context, c Caller, email, role string) (InvitationView, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return InvitationView{}, fmt.Errorf("invitation id: %w", err)
	}
	err = s.changeInvitations(ctx, c, func(tx pgx.Tx, scene domain.InviteScene, now time.Time) (domain.InvitationChange, error) {
		if err := checkRole(ctx, tx, role); err != nil {
			return domain.InvitationChange{}, err
		}
		if err := inviteeScene(ctx, tx, &scene, email); err != nil {
			return domain.InvitationChange{}, err
		}
		return domain.Invite(scene, id.String(), email, domain.Role(role), s.invitationLimits(), now)
	})
	if err != nil {
		return InvitationView{}, err
	}
	return s.invitationView(ctx, c.TenantID, id.String())
}

// ResendInvitation gives a pending or expired invitation a new link and expiry, and mails it again.
func (s *Store) ResendInvitation(ctx context.Context, c Caller, id string) (InvitationView, error) {
	err := s.changeInvitations(ctx, c, func(tx pgx.Tx, scene domain.InviteScene, now time.Time) (domain.InvitationChange, error) {
		inv, err := lockInvitation(ctx, tx, `id = $1 AND tenant_id = $2`, id, c.TenantID)
		if err != nil {
			return domain.InvitationChange{}, err
		}
		if err := inviteeScene(ctx, tx, &scene, inv.Email); err != nil {
			return domain.InvitationChange{}, err
		}
		return domain.Resend(scene, inv, s.invitationLimits(), now)
	})
	if err != nil {
		return InvitationView{}, err
	}
	return s.invitationView(ctx, c.TenantID, id)
}

// RevokeInvitation withdraws an invitation of the caller's active tenant.
func (s *Store) RevokeInvitation(ctx context.Context, c Caller, id string) error {
	return s.changeInvitations(ctx, c, func(tx pgx.Tx, scene domain.InviteScene, _ time.Time) (domain.InvitationChange, error) {
		inv, err := lockInvitation(ctx, tx, `id = $1 AND tenant_id = $2`, id, c.TenantID)
		if err != nil {
			return domain.InvitationChange{}, err
		}
		return domain.Revoke(c.UserID, scene.ActorRole, inv)
	})
}

type invitationRule func(tx pgx.Tx, scene domain.InviteScene, now time.Time) (domain.InvitationChange, error)

// changeInvitations runs an admin's invitation rule as the service, scoped to the caller's active tenant, with
// the tenant's invitations serialised by an advisory lock (the hourly limit and "already invited" hold under
// concurrent requests), and saves what the rule decided in the same transaction.
func (s *Store) changeInvitations(ctx context.Context, c Caller, rule invitationRule) error {
	var ch domain.InvitationChange
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		now := time.Now()
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('invitations:' || $1, 0))`, c.TenantID); err != nil {
			return fmt.Errorf("lock invitations: %w", err)
		}
		scene := domain.InviteScene{TenantID: c.TenantID, Actor: c.UserID}
		var role *string
		err := tx.QueryRow(ctx, `SELECT t.suspended, (SELECT m.role FROM memberships m JOIN users u ON u.id = m.user_id
				WHERE m.tenant_id = t.id AND m.user_id = $2 AND u.status = 'active')
			FROM tenants t WHERE t.id = $1`, c.TenantID, c.UserID).Scan(&scene.Suspended, &role)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && role == nil) {
			return fmt.Errorf("user %s in tenant %s: %w", c.UserID, c.TenantID, ErrNotInTenant)
		}
		if err != nil {
			return fmt.Errorf("read tenant %s: %w", c.TenantID, err)
		}
		scene.ActorRole = domain.Role(*role)
		if err := recentSends(ctx, tx, &scene, now); err != nil {
			return err
		}
		ch, err = rule(tx, scene, now)
		if err != nil {
			return err
		}
		return saveInvitationChange(ctx, tx, ch, c.UserID, now)
	})
	if err != nil {
		return fmt.Errorf("invitations of %s: %w", c.TenantID, err)
	}
	s.notifyInvitation(ch)
	return nil
}

func (s *Store) notifyInvitation(ch domain.InvitationChange) {
	if len(ch.Announce) > 0 {
		s.Notify()
	}
	if ch.Token != "" && s.NotifyMail != nil {
		s.NotifyMail()
	}
}

func checkRole(ctx context.Context, tx pgx.Tx, role string) error {
	if role == "" {
		return domain.ErrEmptyRole
	}
	var known bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM roles WHERE name = $1)`, role).Scan(&known); err != nil {
		return fmt.Errorf("check role: %w", err)
	}
	if !known {
		return fmt.Errorf("%w %q", ErrUnknownRole, role)
	}
	return nil
}

// inviteeScene reads whether email belongs to a member already, and the pending invitation for it (locked).
func inviteeScene(ctx context.Context, tx pgx.Tx, scene *domain.InviteScene, email string) error {
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.tenant_id = $1 AND u.status = 'active' AND lower(u.email) = $2)`, scene.TenantID, email).Scan(&scene.IsMember)
	if err != nil {
		return fmt.Errorf("members with %s: %w", email, err)
	}
	inv, err := lockInvitation(ctx, tx, `tenant_id = $1 AND email = $2 AND status = 'pending'`, scene.TenantID, email)
	if errors.Is(err, domain.ErrNoSuchInvitation) {
		return nil
	}
	if err != nil {
		return err
	}
	scene.Pending = &inv
	return nil
}

func recentSends(ctx context.Context, tx pgx.Tx, scene *domain.InviteScene, now time.Time) error {
	rows, err := tx.Query(ctx, `SELECT at FROM invitation_sends WHERE tenant_id = $1 AND at > $2`, scene.TenantID, now.Add(-time.Hour))
	if err != nil {
		return fmt.Errorf("recent invitations: %w", err)
	}
	scene.Recent, err = pgx.CollectRows(rows, pgx.RowTo[time.Time])
	if err != nil {
		return fmt.Errorf("recent invitations: %w", err)
	}
	return nil
}

const invitationColumns = `id::text, tenant_id, email, role, status, created_at, expires_at, invited_by, COALESCE(accepted_by, ''), token_hash`

func scanInvitation(row pgx.Row) (domain.Invitation, error) {
	var i domain.Invitation
	err := row.Scan(&i.ID, &i.TenantID, &i.Email, &i.Role, &i.Status, &i.CreatedAt, &i.ExpiresAt, &i.InvitedBy, &i.AcceptedBy, &i.TokenHash)
	return i, err
}

// lockInvitation reads and locks the one invitation where holds: ErrNoSuchInvitation when there is none.
func lockInvitation(ctx context.Context, tx pgx.Tx, where string, args ...any) (domain.Invitation, error) {
	inv, err := scanInvitation(tx.QueryRow(ctx, `SELECT `+invitationColumns+` FROM invitations WHERE `+where+` FOR UPDATE`, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Invitation{}, domain.ErrNoSuchInvitation
	}
	if err != nil {
		return domain.Invitation{}, fmt.Errorf("read invitation: %w", err)
	}
	return inv, nil
}

// saveInvitationChange writes what a rule decided: the invitation, its mail (with the count against the
// hourly limit), a membership, and the announcements, in tx.
func saveInvitationChange(ctx context.Context, tx pgx.Tx, ch domain.InvitationChange, actor string, now time.Time) error {
	evs, err := outboxEvents(ch.Announce, "")
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	if e := ch.Expire; e != nil {
		b.Queue(`UPDATE invitations SET status = 'expired', expired_at = expires_at, updated_at = $2 WHERE id = $1 AND status = 'pending'`, e.ID, now)
	}
	if i := ch.Save; i != nil {
		queueSaveInvitation(b, *i, ch.Insert, actor, now)
	}
	if ch.Token != "" {
		b.Queue(`INSERT INTO invitation_mails (invitation_id, token) VALUES ($1, $2) ON CONFLICT (invitation_id) DO UPDATE
			SET token = EXCLUDED.token, requested_at = now(), attempts = 0, next_attempt_at = now(), last_error = ''`, ch.Save.ID, ch.Token)
		b.Queue(`DELETE FROM invitation_sends WHERE tenant_id = $1 AND at <= $2`, ch.Save.TenantID, now.Add(-time.Hour))
		b.Queue(`INSERT INTO invitation_sends (tenant_id, at) VALUES ($1, $2)`, ch.Save.TenantID, now)
	}
	if m := ch.Join; m != nil {
		queueJoin(b, *m)
	}
	queueOutbox(b, evs)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("write invitation: %w", err)
	}
	return nil
}

func queueSaveInvitation(b *pgx.Batch, i domain.Invitation, insert bool, actor string, now time.Time) {
	if insert {
		b.Queue(`INSERT INTO invitations (id, tenant_id, email, role, status, token_hash, created_at, expires_at, invited_by, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $7)`, i.ID, i.TenantID, i.Email, string(i.Role), string(i.Status), i.TokenHash,
			i.CreatedAt, i.ExpiresAt, i.InvitedBy)
		return
	}
	switch i.Status {
	case domain.InvitationPending: // a resend
		b.Queue(`UPDATE invitations SET status = 'pending', token_hash = $2, expires_at = $3, expired_at = NULL, updated_at = $4
			WHERE id = $1`, i.ID, i.TokenHash, i.ExpiresAt, now)
	case domain.InvitationRevoked:
		b.Queue(`UPDATE invitations SET status = 'revoked', revoked_by = $2, revoked_at = $3, updated_at = $3 WHERE id = $1`, i.ID, actor, now)
		b.Queue(`DELETE FROM invitation_mails WHERE invitation_id = $1`, i.ID)
	case domain.InvitationAccepted:
		b.Queue(`UPDATE invitations SET status = 'accepted', accepted_by = $2, accepted_at = $3, updated_at = $3 WHERE id = $1`, i.ID, i.AcceptedBy, now)
		b.Queue(`DELETE FROM invitation_mails WHERE invitation_id = $1`, i.ID)
	}
}

func (s *Store) invitationView(ctx context.Context, tenantID, id string) (InvitationView, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+invitationViewColumns+` FROM invitations i LEFT JOIN users u ON u.id = i.invited_by
		WHERE i.id = $2 AND i.tenant_id = $3`, time.Now(), id, tenantID)
	if err != nil {
		return InvitationView{}, fmt.Errorf("read invitation %s: %w", id, err)
	}
	v, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[InvitationView])
	if err != nil {
		return InvitationView{}, fmt.Errorf("read invitation %s: %w", id, err)
	}
	return v, nil
}

// PreviewInvitation is the invitation of a link, for any signed-in person holding it: the token is the
// capability (256 random bits, looked up by its SHA-256).
func (s *Store) PreviewInvitation(ctx context.Context, token string) (InvitationPreview, error) {
	rows, err := s.pool.Query(ctx, `SELECT i.tenant_id, t.display_name, i.role, i.email, `+shownStatus+`, i.expires_at, COALESCE(u.name, '')
		FROM invitations i JOIN tenants t ON t.id = i.tenant_id LEFT JOIN users u ON u.id = i.invited_by
		WHERE i.token_hash = $2`, time.Now(), domain.HashInvitationToken(token))
	if err != nil {
		return InvitationPreview{}, fmt.Errorf("preview invitation: %w", err)
	}
	p, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[InvitationPreview])
	if errors.Is(err, pgx.ErrNoRows) {
		return InvitationPreview{}, domain.ErrNoSuchInvitation
	}
	if err != nil {
		return InvitationPreview{}, fmt.Errorf("preview invitation: %w", err)
	}
	return p, nil
}

// AcceptInvitation makes the caller a member of the link's tenant with the invited role, if the domain's
// accept rule allows it, and returns that tenant as one of theirs.
func (s *Store) AcceptInvitation(ctx context.Context, c Caller, token string) (MyTenant, error) {
	var ch domain.InvitationChange
	var out MyTenant
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		now := time.Now()
		inv, err := lockInvitation(ctx, tx, `token_hash = $1`, domain.HashInvitationToken(token))
		if err != nil {
			return err
		}
		who, err := loadInvitee(ctx, tx, c.UserID)
		if err != nil {
			return err
		}
		var suspended bool
		if err := tx.QueryRow(ctx, `SELECT suspended FROM tenants WHERE id = $1`, inv.TenantID).Scan(&suspended); err != nil {
			return fmt.Errorf("read tenant %s: %w", inv.TenantID, err)
		}
		ch, err = domain.Accept(inv, who, suspended, now)
		if err != nil {
			return err
		}
		if err := saveInvitationChange(ctx, tx, ch, c.UserID, now); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT t.id, t.display_name, t.kind, t.suspended, m.role, m.joined_at,
				t.id = COALESCE(u.tenant_id, ''), t.id = $3
			FROM memberships m JOIN tenants t ON t.id = m.tenant_id JOIN users u ON u.id = m.user_id
			WHERE m.user_id = $1 AND m.tenant_id = $2`, c.UserID, inv.TenantID, c.TenantID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[MyTenant])
		if errors.Is(err, pgx.ErrNoRows) {
			return domain.ErrInvitationAccepted // accepted by this person, who has left the tenant since
		}
		return err
	})
	if err != nil {
		return MyTenant{}, fmt.Errorf("accept invitation: %w", err)
	}
	s.notifyInvitation(ch)
	return out, nil
}

// loadInvitee locks the caller's user row (none yet: a nil User) and reads their memberships.
func loadInvitee(ctx context.Context, tx pgx.Tx, id string) (domain.Invitee, error) {
	who := domain.Invitee{User: &domain.User{}, Tenants: map[string]domain.Role{}}
	err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 FOR UPDATE`, id), who.User)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Invitee{}, nil
	}
	if err != nil {
		return domain.Invitee{}, fmt.Errorf("lock user %s: %w", id, err)
	}
	rows, err := tx.Query(ctx, `SELECT tenant_id, role FROM memberships WHERE user_id = $1`, id)
	if err != nil {
		return domain.Invitee{}, fmt.Errorf("memberships of %s: %w", id, err)
	}
	var tenant, role string
	if _, err := pgx.ForEachRow(rows, []any{&tenant, &role}, func() error {
		who.Tenants[tenant] = domain.Role(role)
		return nil
	}); err != nil {
		return domain.Invitee{}, fmt.Errorf("memberships of %s: %w", id, err)
	}
	return who, nil
}

// ExpireInvitations stores up to limit pending invitations past their expiry as expired and announces
// InvitationExpired for each, once: the status changes in the same transaction. Several replicas share the
// work (SKIP LOCKED).
func (s *Store) ExpireInvitations(ctx context.Context, limit int) (int, error) {
	var n int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		now := time.Now()
		rows, err := tx.Query(ctx, `SELECT `+invitationColumns+` FROM invitations WHERE status = 'pending' AND expires_at <= $1
			ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED`, now, limit)
		if err != nil {
			return err
		}
		due, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Invitation, error) { return scanInvitation(r) })
		if err != nil {
			return err
		}
		for _, inv := range due {
			if err := saveInvitationChange(ctx, tx, domain.Expire(inv, now), "", now); err != nil {
				return err
			}
		}
		n = len(due)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("expire invitations: %w", err)
	}
	if n > 0 {
		s.Notify()
	}
	return n, nil
}

package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/connectedbbq/platform/services/user-service/internal/domain"
)

// Caller is who an API request acts for, from a verified token.
type Caller struct {
	UserID   string
	TenantID string // the token's tenant claim; empty before the first token after activation
}

// Profile is a user as the API shows it.
type Profile struct {
	UserID        string     `json:"userId"`
	Email         string     `json:"email"`
	Name          string     `json:"name"`
	EmailVerified bool       `json:"emailVerified"`
	Status        string     `json:"status"`
	TenantID      string     `json:"tenantId,omitempty"`
	Role          string     `json:"role,omitempty"`
	MemberSince   *time.Time `json:"memberSince,omitempty"`
}

// TenantView is the caller's tenant as the API shows it.
type TenantView struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	Kind        string `json:"kind"`
	Suspended   bool   `json:"suspended"`
	Members     int    `json:"members"`
}

// asCaller runs f in a transaction as role bbq_api with the caller in settings, so row-level
// security limits every query to the caller's own row and tenant.
func (s *Store) asCaller(ctx context.Context, c Caller, f func(pgx.Tx) error) error {
	pool := s.pool
	if s.callers != nil {
		pool = s.callers
	}
	return inTxOn(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL ROLE bbq_api`); err != nil {
			return fmt.Errorf("set role: %w", err)
		}
		if _, err := tx.Exec(ctx, `SELECT set_config('app.user_id', $1, true), set_config('app.tenant_id', $2, true)`, c.UserID, c.TenantID); err != nil {
			return fmt.Errorf("set caller: %w", err)
		}
		return f(tx)
	})
}

const profileColumns = `id, email, name, email_verified, status, COALESCE(tenant_id, ''), COALESCE(role, ''), activated_at`

func scanProfile(row pgx.Row) (Profile, error) {
	var p Profile
	err := row.Scan(&p.UserID, &p.Email, &p.Name, &p.EmailVerified, &p.Status, &p.TenantID, &p.Role, &p.MemberSince)
	return p, err
}

// Me reads the caller's own profile.
func (s *Store) Me(ctx context.Context, c Caller) (Profile, error) {
	var p Profile
	err := s.asCaller(ctx, c, func(tx pgx.Tx) error {
		var err error
		p, err = scanProfile(tx.QueryRow(ctx, `SELECT `+profileColumns+` FROM users WHERE id = $1 AND status <> 'deleted'`, c.UserID))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Profile{}, fmt.Errorf("user %s: %w", c.UserID, ErrNotFound)
	}
	if err != nil {
		return Profile{}, fmt.Errorf("read profile: %w", err)
	}
	return p, nil
}

// Tenant reads the caller's tenant.
func (s *Store) Tenant(ctx context.Context, c Caller) (TenantView, error) {
	var t TenantView
	err := s.asCaller(ctx, c, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT id, display_name, kind, suspended,
			(SELECT count(*) FROM memberships WHERE tenant_id = $1) FROM tenants WHERE id = app_active_tenant() AND id = $1`, c.TenantID).
			Scan(&t.ID, &t.DisplayName, &t.Kind, &t.Suspended, &t.Members)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return TenantView{}, fmt.Errorf("tenant %s: %w", c.TenantID, ErrNotFound)
	}
	if err != nil {
		return TenantView{}, fmt.Errorf("read tenant: %w", err)
	}
	return t, nil
}

// Cursor is the position after the last member of a page: when they joined, and their id.
type Cursor struct {
	JoinedAt time.Time `json:"t"`
	UserID   string    `json:"u"`
}

// Members lists the active members of the caller's active tenant in the order they joined, after cursor.
func (s *Store) Members(ctx context.Context, c Caller, pageSize int, after *Cursor) ([]Profile, *Cursor, error) {
	var members []Profile
	err := s.asCaller(ctx, c, func(tx pgx.Tx) error {
		at, id := time.Time{}, ""
		if after != nil {
			at, id = after.JoinedAt, after.UserID
		}
		// The WHERE on tenant_id is for the index; row-level security enforces it regardless. The role and
		// the date are the membership's, in this tenant.
		rows, err := tx.Query(ctx, `SELECT u.id, u.email, u.name, u.email_verified, u.status, m.tenant_id, m.role, m.joined_at
			FROM memberships m JOIN users u ON u.id = m.user_id
			WHERE m.tenant_id = $1 AND u.status = 'active' AND (m.joined_at, m.user_id) > ($2, $3)
			ORDER BY m.joined_at, m.user_id LIMIT $4`, c.TenantID, at, id, pageSize+1)
		if err != nil {
			return err
		}
		members, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Profile, error) { return scanProfile(r) })
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list members: %w", err)
	}
	if len(members) <= pageSize {
		return members, nil, nil
	}
	members = members[:pageSize]
	last := members[len(members)-1]
	return members, &Cursor{JoinedAt: *last.MemberSince, UserID: last.UserID}, nil
}

// UpdateName changes the caller's name, announces UserUpdated (built by the domain, as the consumer's) and
// asks for the change to be written to Keycloak. Setting the name it already has changes nothing.
func (s *Store) UpdateName(ctx context.Context, c Caller, name string) (Profile, error) {
	var p Profile
	announced := false
	err := s.asCaller(ctx, c, func(tx pgx.Tx) error {
		u := &domain.User{}
		if err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 AND status = 'active' FOR UPDATE`, c.UserID), u); err != nil {
			return err
		}
		change, err := u.Rename(name)
		if err != nil {
			return err
		}
		p = profileOf(u)
		if !change.Dirty {
			return nil
		}
		evs, err := outboxEvents(change.Announce, "")
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		b.Queue(`UPDATE users SET name = $2, updated_at = now() WHERE id = $1`, u.ID, u.Name)
		queueOutbox(b, evs)
		queueKeycloakSync(b, u.ID, true)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("write name of %s: %w", u.ID, err)
		}
		announced = true
		return nil
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Profile{}, fmt.Errorf("user %s: %w", c.UserID, ErrNotFound)
	}
	if err != nil {
		return Profile{}, fmt.Errorf("update name: %w", err)
	}
	if announced {
		s.Notify()
	}
	return p, nil
}

func profileOf(u *domain.User) Profile {
	p := Profile{UserID: u.ID, Email: u.Email, Name: u.Name, EmailVerified: u.EmailVerified, Status: string(u.Status),
		TenantID: u.TenantID, Role: string(u.Role)}
	if !u.ActivatedAt.IsZero() {
		at := u.ActivatedAt
		p.MemberSince = &at
	}
	return p
}

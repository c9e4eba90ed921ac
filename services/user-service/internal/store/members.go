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

// Errors of the membership operations.
var (
	// ErrNotInTenant: the caller does not (or no longer) belong to the tenant the request names.
	ErrNotInTenant = errors.New("not a member of this tenant")
	ErrUnknownRole = errors.New("unknown role")
)

// MyTenant is one tenant the caller belongs to.
type MyTenant struct {
	ID          string    `json:"id"`
	DisplayName string    `json:"displayName"`
	Kind        string    `json:"kind"`
	Suspended   bool      `json:"suspended"`
	Role        string    `json:"role"`
	JoinedAt    time.Time `json:"joinedAt"`
	Default     bool      `json:"default"` // the tenant the caller's tokens carry
	Active      bool      `json:"active"`  // the tenant of this request
}

// Role is the caller's role in their active tenant, read under row-level security (the database checks the
// membership as well): ErrNotInTenant when the caller, or their active user row, does not belong to it;
// domain.ErrSuspended when the tenant is suspended.
func (s *Store) Role(ctx context.Context, c Caller) (string, error) {
	var role string
	var suspended bool
	err := s.asCaller(ctx, c, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT m.role, t.suspended FROM memberships m JOIN users u ON u.id = m.user_id JOIN tenants t ON t.id = m.tenant_id
			WHERE m.tenant_id = app_active_tenant() AND m.user_id = $1 AND u.status = 'active'`, c.UserID).Scan(&role, &suspended)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("user %s in tenant %s: %w", c.UserID, c.TenantID, ErrNotInTenant)
	}
	if err != nil {
		return "", fmt.Errorf("read membership: %w", err)
	}
	if suspended {
		return "", fmt.Errorf("tenant %s: %w", c.TenantID, domain.ErrSuspended)
	}
	return role, nil
}

// MyTenants lists the tenants the caller belongs to, in the order they joined.
func (s *Store) MyTenants(ctx context.Context, c Caller) ([]MyTenant, error) {
	var out []MyTenant
	err := s.asCaller(ctx, c, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT t.id, t.display_name, t.kind, t.suspended, m.role, m.joined_at,
				t.id = COALESCE(u.tenant_id, ''), t.id = $2
			FROM memberships m JOIN tenants t ON t.id = m.tenant_id JOIN users u ON u.id = m.user_id
			WHERE m.user_id = $1 AND u.status = 'active' ORDER BY m.joined_at, t.id`, c.UserID, c.TenantID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowToStructByPos[MyTenant])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list tenants of %s: %w", c.UserID, err)
	}
	return out, nil
}

// ChangeRole gives target a role in the caller's active tenant (admins only).
func (s *Store) ChangeRole(ctx context.Context, c Caller, target, role string) (Profile, error) {
	var p Profile
	err := s.changeMembership(ctx, c, target, func(tx pgx.Tx, r domain.Roster, who domain.Person) (domain.MemberChange, error) {
		var known bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM roles WHERE name = $1)`, role).Scan(&known); err != nil {
			return domain.MemberChange{}, fmt.Errorf("check role: %w", err)
		}
		if !known {
			return domain.MemberChange{}, fmt.Errorf("%w %q", ErrUnknownRole, role)
		}
		change, err := domain.ChangeRole(r, c.UserID, who, domain.Role(role))
		p = profileOf(who.User)
		p.TenantID, p.Role = r.TenantID, role
		return change, err
	})
	if err != nil {
		return Profile{}, err
	}
	return p, nil
}

// RemoveMember removes target from the caller's active tenant (admins only).
func (s *Store) RemoveMember(ctx context.Context, c Caller, target string) error {
	return s.changeMembership(ctx, c, target, func(_ pgx.Tx, r domain.Roster, who domain.Person) (domain.MemberChange, error) {
		return domain.Remove(r, c.UserID, who)
	})
}

// Leave takes the caller out of their active tenant.
func (s *Store) Leave(ctx context.Context, c Caller) error {
	return s.changeMembership(ctx, c, c.UserID, func(_ pgx.Tx, r domain.Roster, who domain.Person) (domain.MemberChange, error) {
		return domain.Leave(r, who)
	})
}

type memberRule func(tx pgx.Tx, r domain.Roster, who domain.Person) (domain.MemberChange, error)

// changeMembership locks the active tenant's memberships, then the target's user row, lets the domain rule
// decide, and saves the change with its events in the same transaction. It runs as the service (not
// bbq_api): a removal may move the target to another of their tenants, which the caller cannot see. Every
// statement is scoped to the caller's tenant, and the rule refuses callers who are not members.
func (s *Store) changeMembership(ctx context.Context, c Caller, target string, rule memberRule) error {
	announced := false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := lockRoster(ctx, tx, c.TenantID)
		if err != nil {
			return err
		}
		if _, ok := r.Members[c.UserID]; !ok {
			return fmt.Errorf("user %s in tenant %s: %w", c.UserID, c.TenantID, ErrNotInTenant)
		}
		who, err := loadPerson(ctx, tx, target)
		if err != nil {
			return err
		}
		change, err := rule(tx, r, who)
		if err != nil {
			return err
		}
		announced = len(change.Announce) > 0
		return saveMemberChange(ctx, tx, who.User, change)
	})
	if err != nil {
		return fmt.Errorf("change membership of %s in %s: %w", target, c.TenantID, err)
	}
	if announced {
		s.Notify()
	}
	return nil
}

func lockRoster(ctx context.Context, tx pgx.Tx, tenantID string) (domain.Roster, error) {
	rows, err := tx.Query(ctx, `SELECT user_id, role FROM memberships WHERE tenant_id = $1 ORDER BY user_id FOR UPDATE`, tenantID)
	if err != nil {
		return domain.Roster{}, fmt.Errorf("lock members of %s: %w", tenantID, err)
	}
	r := domain.Roster{TenantID: tenantID, Members: map[string]domain.Role{}}
	var id, role string
	if _, err := pgx.ForEachRow(rows, []any{&id, &role}, func() error {
		r.Members[id] = domain.Role(role)
		return nil
	}); err != nil {
		return domain.Roster{}, fmt.Errorf("lock members of %s: %w", tenantID, err)
	}
	return r, nil
}

// loadPerson locks the user row of id and reads their memberships. A user the service does not know, or
// not active, is no member of anything.
func loadPerson(ctx context.Context, tx pgx.Tx, id string) (domain.Person, error) {
	p := domain.Person{User: &domain.User{}, Tenants: map[string]domain.Role{}, Suspended: map[string]bool{}, FreshTenantID: uuid.NewString()}
	err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 AND status = 'active' FOR UPDATE`, id), p.User)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Person{}, fmt.Errorf("user %s: %w", id, domain.ErrNotMember)
	}
	if err != nil {
		return domain.Person{}, fmt.Errorf("lock user %s: %w", id, err)
	}
	rows, err := tx.Query(ctx, `SELECT m.tenant_id, m.role, t.suspended FROM memberships m JOIN tenants t ON t.id = m.tenant_id WHERE m.user_id = $1`, id)
	if err != nil {
		return domain.Person{}, fmt.Errorf("memberships of %s: %w", id, err)
	}
	var tenant, role string
	var suspended bool
	if _, err := pgx.ForEachRow(rows, []any{&tenant, &role, &suspended}, func() error {
		p.Tenants[tenant] = domain.Role(role)
		if suspended {
			p.Suspended[tenant] = true
		}
		return nil
	}); err != nil {
		return domain.Person{}, fmt.Errorf("memberships of %s: %w", id, err)
	}
	err = tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM tenants WHERE id = $1)`, domain.PersonalTenantID(id)).Scan(&p.PersonalTenantExists)
	if err != nil {
		return domain.Person{}, fmt.Errorf("personal tenant of %s: %w", id, err)
	}
	return p, nil
}

func saveMemberChange(ctx context.Context, tx pgx.Tx, u *domain.User, c domain.MemberChange) error {
	evs, err := outboxEvents(c.Announce, "")
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	if t := c.PersonalTenant; t != nil {
		b.Queue(`INSERT INTO tenants (id, display_name, kind) VALUES ($1, $2, 'personal') ON CONFLICT DO NOTHING`, t.ID, t.Name)
	}
	if m := c.SetRole; m != nil {
		b.Queue(`UPDATE memberships SET role = $3 WHERE tenant_id = $1 AND user_id = $2`, m.TenantID, m.UserID, string(m.Role))
	}
	if m := c.Delete; m != nil {
		b.Queue(`DELETE FROM memberships WHERE tenant_id = $1 AND user_id = $2`, m.TenantID, m.UserID)
	}
	if m := c.Join; m != nil {
		queueJoin(b, *m)
	}
	if c.UserDirty {
		b.Queue(`UPDATE users SET tenant_id = $2, role = $3, updated_at = now() WHERE id = $1`, u.ID, u.TenantID, string(u.Role))
	}
	if c.SyncKeycloak {
		queueKeycloakSync(b, u.ID, false) // the tenant only: the name stays Keycloak's
	}
	queueOutbox(b, evs)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("write membership of %s: %w", u.ID, err)
	}
	return nil
}

func queueJoin(b *pgx.Batch, m domain.Membership) {
	b.Queue(`INSERT INTO memberships (tenant_id, user_id, role, source) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
		m.TenantID, m.UserID, string(m.Role), string(m.Source))
}

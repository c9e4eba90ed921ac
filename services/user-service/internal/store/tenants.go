package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/connectedbbq/platform/services/user-service/internal/domain"
)

// Tenant is a declared tenant, as the admin API and the Kubernetes controller see it.
type Tenant struct {
	ID           string   `json:"id"`
	DisplayName  string   `json:"displayName"`
	EmailDomains []string `json:"emailDomains"`
	Admins       []string `json:"admins"`
	Suspended    bool     `json:"suspended"`
	// IdentityProvider is the alias of the Keycloak identity provider linked to the tenant's organization.
	IdentityProvider string    `json:"identityProvider"`
	Kind             string    `json:"kind"`
	Members          int       `json:"members"`
	UpdatedAt        time.Time `json:"updatedAt"`
}

// Errors of the tenant operations.
var (
	ErrNotFound     = errors.New("not found")
	ErrDomainTaken  = errors.New("email domain belongs to another tenant")
	ErrHasMembers   = errors.New("tenant still has members")
	ErrNotDeclared  = errors.New("tenant is a personal tenant")
	ErrInvalidInput = errors.New("invalid input")
)

// PutTenant creates or updates a declared tenant and its domain rules: a new tenant is announced
// (TenantCreated), a changed name, suspension or identity provider too (TenantUpdated), members whose emails
// are listed as admins are promoted, and admins whose emails were listed and are not any more are demoted. A
// changed identity provider or domain list also asks the organization write-back (triggers, migration 00012).
// The id of a personal tenant is refused (ErrNotDeclared).
func (s *Store) PutTenant(ctx context.Context, t Tenant) (created bool, err error) {
	announced := false
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		old, err := lockTenant(ctx, tx, t.ID, "FOR UPDATE")
		exists := err == nil
		if err != nil && !errors.Is(err, ErrNotInTenant) {
			return err
		}
		if exists && old.Kind != domain.KindDeclared {
			return fmt.Errorf("put tenant %s: %w", t.ID, ErrNotDeclared)
		}
		var listedBefore []string
		if exists {
			if err := tx.QueryRow(ctx, `SELECT admins FROM tenants WHERE id = $1`, t.ID).Scan(&listedBefore); err != nil {
				return fmt.Errorf("put tenant %s: %w", t.ID, err)
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO tenants (id, display_name, kind, admins, suspended, identity_provider)
			VALUES ($1, $2, 'declared', $3, $4, $5)
			ON CONFLICT (id) DO UPDATE SET display_name = $2, admins = $3, suspended = $4, identity_provider = $5, updated_at = now()
			WHERE (tenants.display_name, tenants.admins, tenants.suspended, tenants.identity_provider) IS DISTINCT FROM ($2, $3, $4, $5)`,
			t.ID, t.DisplayName, lowerAll(t.Admins), t.Suspended, t.IdentityProvider)
		if err != nil {
			return fmt.Errorf("put tenant %s: %w", t.ID, err)
		}
		if err := replaceDomains(ctx, tx, t.ID, t.EmailDomains); err != nil {
			return err
		}
		change, err := applyListedAdmins(ctx, tx, t, listedBefore)
		if err != nil {
			return err
		}
		created = !exists
		change.Announce = declaredChanges(old, t, created)
		announced = len(change.Announce)+len(change.Members) > 0
		return saveTenantChange(ctx, tx, t.ID, change)
	})
	if announced {
		s.Notify()
	}
	return created, err
}

// declaredChanges announces a new declared tenant, or what changed of an existing one.
func declaredChanges(old domain.Tenant, t Tenant, created bool) []domain.Announcement {
	if created {
		return []domain.Announcement{domain.TenantDeclared(t.ID, t.DisplayName)}
	}
	var changed []string
	if old.Name != t.DisplayName {
		changed = append(changed, "name")
	}
	if old.Suspended != t.Suspended {
		changed = append(changed, "suspended")
	}
	if old.IdentityProvider != t.IdentityProvider {
		changed = append(changed, "identity_provider")
	}
	if len(changed) == 0 {
		return nil
	}
	return []domain.Announcement{domain.TenantDeclaredUpdated(domain.Tenant{ID: t.ID, Name: t.DisplayName, Suspended: t.Suspended,
		IdentityProvider: t.IdentityProvider}, changed)}
}

// applyListedAdmins follows the operator's admin list (domain.ApplyListedAdmins). Only the candidates are
// locked and read (listed and not admin yet, or admin and no longer listed), so a large tenant's unchanged
// spec costs one query.
func applyListedAdmins(ctx context.Context, tx pgx.Tx, t Tenant, listedBefore []string) (domain.TenantChange, error) {
	rows, err := tx.Query(ctx, `SELECT m.user_id FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.tenant_id = $1 AND (m.role <> 'admin' AND lower(u.email) = ANY($2)
			OR m.role = 'admin' AND lower(u.email) = ANY($3) AND NOT lower(u.email) = ANY($2))
		ORDER BY m.user_id`, t.ID, lowerAll(t.Admins), lowerAll(listedBefore))
	if err != nil {
		return domain.TenantChange{}, fmt.Errorf("listed admins of %s: %w", t.ID, err)
	}
	candidates, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(candidates) == 0 {
		return domain.TenantChange{}, err
	}
	r, err := lockRoster(ctx, tx, t.ID)
	if err != nil {
		return domain.TenantChange{}, err
	}
	people := map[string]domain.Person{}
	for _, id := range candidates {
		p, err := loadPerson(ctx, tx, id)
		if errors.Is(err, domain.ErrNotMember) {
			continue
		}
		if err != nil {
			return domain.TenantChange{}, err
		}
		people[id] = p
	}
	return domain.TenantChange{Members: domain.ApplyListedAdmins(r, listedBefore, t.Admins, people)}, nil
}

func replaceDomains(ctx context.Context, tx pgx.Tx, tenantID string, domains []string) error {
	domains = lowerAll(domains)
	var owner string
	err := tx.QueryRow(ctx, `SELECT tenant_id FROM tenant_domains WHERE domain = ANY($1) AND tenant_id <> $2 LIMIT 1`, domains, tenantID).Scan(&owner)
	if err == nil {
		return fmt.Errorf("%w (%s)", ErrDomainTaken, owner)
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("check domains: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM tenant_domains WHERE tenant_id = $1 AND NOT (domain = ANY($2))`, tenantID, domains); err != nil {
		return fmt.Errorf("remove domains: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO tenant_domains (domain, tenant_id) SELECT unnest($1::text[]), $2 ON CONFLICT DO NOTHING`, domains, tenantID); err != nil {
		return fmt.Errorf("add domains: %w", err)
	}
	return nil
}

// GetTenant reads a tenant with its domain rules and member count.
func (s *Store) GetTenant(ctx context.Context, id string) (Tenant, error) {
	t := Tenant{ID: id}
	err := s.pool.QueryRow(ctx, `SELECT display_name, kind, admins, suspended, identity_provider, updated_at,
		COALESCE((SELECT array_agg(domain ORDER BY domain) FROM tenant_domains WHERE tenant_id = $1), '{}'),
		(SELECT count(*) FROM memberships WHERE tenant_id = $1)
		FROM tenants WHERE id = $1`, id).Scan(&t.DisplayName, &t.Kind, &t.Admins, &t.Suspended, &t.IdentityProvider, &t.UpdatedAt, &t.EmailDomains, &t.Members)
	if errors.Is(err, pgx.ErrNoRows) {
		return Tenant{}, fmt.Errorf("tenant %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Tenant{}, fmt.Errorf("get tenant %s: %w", id, err)
	}
	return t, nil
}

// DeleteTenant removes a declared tenant and its domain rules, announced as TenantDeleted. A tenant with
// members is kept (ErrHasMembers): its people must be moved or removed first.
func (s *Store) DeleteTenant(ctx context.Context, id string) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var kind, name string
		var members int
		err := tx.QueryRow(ctx, `SELECT kind, display_name, (SELECT count(*) FROM (SELECT user_id FROM memberships WHERE tenant_id = $1 UNION SELECT id FROM users WHERE tenant_id = $1) m) FROM tenants WHERE id = $1 FOR UPDATE`, id).Scan(&kind, &name, &members)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // already gone: deleting is idempotent
		}
		if err != nil {
			return fmt.Errorf("delete tenant %s: %w", id, err)
		}
		if kind != "declared" {
			return fmt.Errorf("delete tenant %s: %w", id, ErrNotDeclared)
		}
		if members > 0 {
			return fmt.Errorf("delete tenant %s: %w (%d)", id, ErrHasMembers, members)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM tenants WHERE id = $1`, id); err != nil {
			return fmt.Errorf("delete tenant %s: %w", id, err)
		}
		return announceInTx(ctx, tx, []domain.Announcement{domain.TenantDeclaredDeleted(id, name)})
	})
	if err == nil {
		s.Notify()
	}
	return err
}

func lowerAll(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		out = append(out, strings.ToLower(strings.TrimSpace(s)))
	}
	return out
}

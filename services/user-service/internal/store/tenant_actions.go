package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/connectedbbq/platform/services/user-service/internal/domain"
)

// lockTenant reads the tenant row, locked with lock (a row-lock clause): ErrNotInTenant when there is none,
// so a tenant deleted a moment ago looks like one the caller left.
func lockTenant(ctx context.Context, tx pgx.Tx, id, lock string) (domain.Tenant, error) {
	var t domain.Tenant
	err := tx.QueryRow(ctx, `SELECT id, display_name, kind, suspended, identity_provider FROM tenants WHERE id = $1 `+lock, id).Scan(
		&t.ID, &t.Name, &t.Kind, &t.Suspended, &t.IdentityProvider)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Tenant{}, fmt.Errorf("tenant %s: %w", id, ErrNotInTenant)
	}
	if err != nil {
		return domain.Tenant{}, fmt.Errorf("lock tenant %s: %w", id, err)
	}
	return t, nil
}

// tenantRule is a tenant-wide rule over the caller's active tenant, locked with its memberships.
type tenantRule func(tx pgx.Tx, t domain.Tenant, r domain.Roster) (domain.TenantChange, error)

// changeTenant locks the caller's active tenant and its memberships, lets rule decide and saves the
// change: the members' changes first, then the tenant's, with every event in the same transaction. It runs
// as the service, as changeMembership does, scoped to the caller's tenant.
func (s *Store) changeTenant(ctx context.Context, c Caller, lock string, rule tenantRule) error {
	announced := false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		t, err := lockTenant(ctx, tx, c.TenantID, lock)
		if err != nil {
			return err
		}
		r, err := lockRoster(ctx, tx, c.TenantID)
		if err != nil {
			return err
		}
		if _, ok := r.Members[c.UserID]; !ok {
			return fmt.Errorf("user %s in tenant %s: %w", c.UserID, c.TenantID, ErrNotInTenant)
		}
		if t.Suspended {
			return fmt.Errorf("tenant %s: %w", t.ID, domain.ErrSuspended)
		}
		change, err := rule(tx, t, r)
		if err != nil {
			return err
		}
		announced = len(change.Announce) > 0
		return saveTenantChange(ctx, tx, t.ID, change)
	})
	if err != nil {
		return fmt.Errorf("change tenant %s: %w", c.TenantID, err)
	}
	if announced {
		s.Notify()
	}
	return nil
}

func saveTenantChange(ctx context.Context, tx pgx.Tx, id string, c domain.TenantChange) error {
	for _, m := range c.Members {
		if err := saveMemberChange(ctx, tx, m.User, m.Change); err != nil {
			return err
		}
	}
	if c.Rename != "" {
		if _, err := tx.Exec(ctx, `UPDATE tenants SET display_name = $2, updated_at = now() WHERE id = $1`, id, c.Rename); err != nil {
			return fmt.Errorf("rename tenant %s: %w", id, err)
		}
	}
	if c.Delete {
		// Memberships, domains and whatever else belongs to the tenant go with it (ON DELETE CASCADE).
		if _, err := tx.Exec(ctx, `DELETE FROM tenants WHERE id = $1`, id); err != nil {
			return fmt.Errorf("delete tenant %s: %w", id, err)
		}
	}
	return announceInTx(ctx, tx, c.Announce)
}

// RenameTenant gives the caller's active tenant a new display name (admins only).
func (s *Store) RenameTenant(ctx context.Context, c Caller, name string) (TenantView, error) {
	err := s.changeTenant(ctx, c, "FOR NO KEY UPDATE", func(_ pgx.Tx, t domain.Tenant, r domain.Roster) (domain.TenantChange, error) {
		return domain.Rename(r, c.UserID, t, name)
	})
	if err != nil {
		return TenantView{}, err
	}
	return s.Tenant(ctx, c)
}

// DeleteMyTenant deletes the caller's active tenant (admins only): every membership ends as a removal
// would, moving whoever loses their default tenant, then the tenant goes.
func (s *Store) DeleteMyTenant(ctx context.Context, c Caller) error {
	return s.changeTenant(ctx, c, "FOR UPDATE", func(tx pgx.Tx, t domain.Tenant, r domain.Roster) (domain.TenantChange, error) {
		if r.Members[c.UserID] != domain.Admin {
			return domain.TenantChange{}, domain.ErrNotTenantAdmin // before locking every member's row
		}
		people, err := loadPeople(ctx, tx, r)
		if err != nil {
			return domain.TenantChange{}, err
		}
		return domain.DeleteTenant(r, c.UserID, t, people)
	})
}

// loadPeople locks and reads every member of the roster, in the roster's (user id) order.
func loadPeople(ctx context.Context, tx pgx.Tx, r domain.Roster) (map[string]domain.Person, error) {
	people := make(map[string]domain.Person, len(r.Members))
	for _, id := range slices.Sorted(maps.Keys(r.Members)) {
		p, err := loadPerson(ctx, tx, id)
		if errors.Is(err, domain.ErrNotMember) {
			continue // not active: the membership goes with the tenant, nobody to move
		}
		if err != nil {
			return nil, err
		}
		people[id] = p
	}
	return people, nil
}

// SwitchDefaultTenant makes tenantID the caller's default tenant, the one their next tokens carry.
func (s *Store) SwitchDefaultTenant(ctx context.Context, c Caller, tenantID string) (Profile, error) {
	var p Profile
	announced := false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		who, err := loadPerson(ctx, tx, c.UserID)
		if errors.Is(err, domain.ErrNotMember) {
			return fmt.Errorf("user %s: %w", c.UserID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		t, err := lockTenant(ctx, tx, tenantID, "FOR KEY SHARE")
		if errors.Is(err, ErrNotInTenant) {
			t = domain.Tenant{ID: tenantID} // no such tenant: the rule refuses it as one the caller is not in
		} else if err != nil {
			return err
		}
		change, err := domain.SwitchDefault(who, t)
		if err != nil {
			return err
		}
		p = profileOf(who.User)
		announced = len(change.Announce) > 0
		return saveMemberChange(ctx, tx, who.User, change)
	})
	if err != nil {
		return Profile{}, fmt.Errorf("switch default tenant of %s: %w", c.UserID, err)
	}
	if announced {
		s.Notify()
	}
	return p, nil
}

package domain

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Errors of the tenant rules.
var (
	ErrSuspended      = errors.New("this tenant is suspended: its members cannot use it until an operator lifts the suspension")
	ErrDeclaredTenant = errors.New("this tenant is declared by a Tenant resource: change or delete the resource instead")
	ErrInvalidName    = errors.New("a tenant name is 1 to 100 characters, without control characters")
	ErrNotMemberOf    = errors.New("you are not a member of that tenant")
	ErrOnlyTenant     = errors.New("this personal tenant is your only tenant: nobody is left without one")
	ErrNotTenantAdmin = errors.New("only the tenant's admins rename or delete it")
)

const maxTenantNameRunes = 100

// Kinds of tenant.
const (
	KindPersonal = "personal"
	KindDeclared = "declared"
)

// Tenant is a tenant as the tenant rules see it (locked by the repository while a rule runs).
type Tenant struct {
	ID, Name, Kind   string
	Suspended        bool
	IdentityProvider string // the alias of the tenant's own identity provider, "" for none
}

// TenantName checks and normalises a tenant's display name: trimmed, 1..100 characters, no control characters.
func TenantName(name string) (string, error) {
	name = strings.TrimSpace(name)
	n := utf8.RuneCountInString(name)
	if !utf8.ValidString(name) || n < 1 || n > maxTenantNameRunes || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return "", ErrInvalidName
	}
	return name, nil
}

// TenantChange is what a tenant rule decided, for the repository to save in one transaction.
type TenantChange struct {
	Rename   string         // the new display name, when not empty
	Delete   bool           // delete the tenant (after the members' changes)
	Members  []PersonChange // deletion: each member's end of membership
	Announce []Announcement // after the members' own announcements
}

// PersonChange is one person's part of a tenant-wide change.
type PersonChange struct {
	User   *User
	Change MemberChange
}

// Rename is an admin (actor) renaming the roster's tenant. A declared tenant's name is its resource's.
func Rename(r Roster, actor string, t Tenant, name string) (TenantChange, error) {
	if r.Members[actor] != Admin {
		return TenantChange{}, ErrNotTenantAdmin
	}
	if t.Kind == KindDeclared {
		return TenantChange{}, ErrDeclaredTenant
	}
	name, err := TenantName(name)
	if err != nil {
		return TenantChange{}, err
	}
	if name == t.Name {
		return TenantChange{}, nil
	}
	return TenantChange{Rename: name, Announce: []Announcement{tenantUpdated(Tenant{ID: t.ID, Name: name, Suspended: t.Suspended, IdentityProvider: t.IdentityProvider}, actor, []string{"name"})}}, nil
}

// DeleteTenant is an admin (actor) deleting the roster's tenant. Every member's membership ends (reason
// tenant_deleted) the way a removal ends it, so whoever loses their default tenant moves to another of
// theirs; then TenantDeleted. people holds the members who are active users, by user id.
func DeleteTenant(r Roster, actor string, t Tenant, people map[string]Person) (TenantChange, error) {
	if r.Members[actor] != Admin {
		return TenantChange{}, ErrNotTenantAdmin
	}
	if t.Kind == KindDeclared {
		return TenantChange{}, ErrDeclaredTenant
	}
	ids := make([]string, 0, len(r.Members))
	for id := range r.Members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	c := TenantChange{Delete: true}
	for _, id := range ids {
		who, ok := people[id]
		if !ok {
			continue // not an active user: the membership goes with the tenant, nobody to move
		}
		// The owner of a personal tenant, with no other, would get this very tenant back.
		if t.ID == PersonalTenantID(id) {
			if _, _, other := otherTenant(who, t.ID); !other {
				return TenantChange{}, ErrOnlyTenant
			}
		}
		mc := endMembership(r, actor, who, TenantDeletion)
		c.Members = append(c.Members, PersonChange{User: who.User, Change: mc})
	}
	c.Announce = []Announcement{tenantDeleted(t.ID, t.Name, actor)}
	return c, nil
}

// SwitchDefault makes tenant t the person's default tenant: the one their tokens carry.
func SwitchDefault(who Person, t Tenant) (MemberChange, error) {
	role, ok := who.Tenants[t.ID]
	if !ok {
		return MemberChange{}, fmt.Errorf("tenant %s: %w", t.ID, ErrNotMemberOf)
	}
	if t.Suspended {
		return MemberChange{}, ErrSuspended
	}
	u := who.User
	if u.TenantID == t.ID && u.Role == role {
		return MemberChange{}, nil
	}
	u.TenantID, u.Role = t.ID, role
	return MemberChange{UserDirty: true, SyncKeycloak: true,
		Announce: []Announcement{userUpdated(u, []string{"tenant_id", "role"})}}, nil
}

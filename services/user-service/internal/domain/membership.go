package domain

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// Errors of the membership rules; the API turns each into a status and message.
var (
	ErrNotAdmin   = errors.New("only the tenant's admins change roles and remove members")
	ErrNotMember  = errors.New("not a member of this tenant")
	ErrLastAdmin  = errors.New("the tenant's last admin can neither leave nor be demoted: make another member admin first")
	ErrEmptyRole  = errors.New("a role is required")
	ErrRemoveSelf = errors.New("to remove yourself, leave the tenant")
)

// Source is how a person became a member: on the wire, TenantMemberAdded's how.
type Source string

// Sources of a membership.
const (
	ByPersonal   Source = "personal"
	ByDomain     Source = "domain"
	ByDeclared   Source = "declared"
	ByInvitation Source = "invitation"
	ByAdmin      Source = "admin"
)

// Membership is one person's place in one tenant.
type Membership struct {
	TenantID, UserID string
	Role             Role
	Source           Source
}

// Roster is a tenant's memberships (locked by the repository while a rule runs), by user id.
type Roster struct {
	TenantID string
	Members  map[string]Role
}

func (r Roster) admins() int {
	n := 0
	for _, role := range r.Members {
		if role == Admin {
			n++
		}
	}
	return n
}

// Person is the member a rule acts on: the user (its default tenant, the one its tokens carry) and every
// tenant it belongs to.
type Person struct {
	User    *User
	Tenants map[string]Role
	// PersonalTenantExists says whether the user's personal tenant row exists (they may have left it).
	PersonalTenantExists bool
	// FreshTenantID is an unused tenant id (the repository makes one per load): the id of a new personal
	// tenant for a person who leaves their last tenant while their first personal tenant lives on, shared.
	FreshTenantID string
	// Suspended holds those of Tenants that are suspended: nobody is moved into one.
	Suspended map[string]bool
}

// MemberChange is what a membership rule decided, for the repository to save in one transaction.
type MemberChange struct {
	SetRole        *Membership     // update this membership's role
	Delete         *Membership     // delete this membership
	Join           *Membership     // insert this membership
	PersonalTenant *PersonalTenant // create this tenant before Join
	UserDirty      bool            // write the user's default tenant and role
	SyncKeycloak   bool            // the default tenant changed: bring the Keycloak attribute in line
	Announce       []Announcement
}

// ChangeRole is an admin (actor) giving target a role in the roster's tenant.
func ChangeRole(r Roster, actor string, target Person, role Role) (MemberChange, error) {
	if role == "" {
		return MemberChange{}, ErrEmptyRole
	}
	if r.Members[actor] != Admin {
		return MemberChange{}, ErrNotAdmin
	}
	id := target.User.ID
	old, ok := r.Members[id]
	if !ok {
		return MemberChange{}, fmt.Errorf("user %s: %w", id, ErrNotMember)
	}
	if old == role {
		return MemberChange{}, nil
	}
	if old == Admin && r.admins() == 1 {
		return MemberChange{}, ErrLastAdmin
	}
	return setRole(r, actor, target.User, old, role), nil
}

// setRole changes the role of u, a member of the roster, from old.
func setRole(r Roster, actor string, u *User, old, role Role) MemberChange {
	c := MemberChange{SetRole: &Membership{TenantID: r.TenantID, UserID: u.ID, Role: role},
		Announce: []Announcement{memberRoleChanged(r.TenantID, u.ID, role, old, actor)}}
	if u.TenantID == r.TenantID {
		u.Role = role
		c.UserDirty, c.SyncKeycloak = true, true // the tenant_role attribute follows
		c.Announce = append(c.Announce, userUpdated(u, []string{"role"}))
	}
	return c
}

// ApplyListedAdmins follows an operator's list of a declared tenant's admins (its Tenant resource) from before
// to after: members whose verified email is listed become admins (so admins listed after a person joined are
// promoted too), and admins whose email was listed before and is not any more become members, as far as the
// tenant keeps an admin (the last one stays, as ErrLastAdmin says for people). Everybody else keeps their
// role, so admins made in the dashboard are left alone. The changes come in user id order.
func ApplyListedAdmins(r Roster, before, after []string, people map[string]Person) []PersonChange {
	listed, unlisted := emailSet(after), emailSet(before)
	for e := range listed {
		delete(unlisted, e)
	}
	ids := slices.Sorted(maps.Keys(people))
	promote := func(id string) bool {
		u, role := people[id].User, r.Members[id]
		return role != "" && role != Admin && u.EmailVerified && listed[strings.ToLower(u.Email)]
	}
	admins := r.admins()
	for _, id := range ids {
		if promote(id) {
			admins++
		}
	}
	var out []PersonChange
	for _, id := range ids {
		u, old := people[id].User, r.Members[id]
		switch {
		case promote(id):
			out = append(out, PersonChange{User: u, Change: setRole(r, "", u, old, Admin)})
		case old == Admin && unlisted[strings.ToLower(u.Email)] && admins > 1:
			out = append(out, PersonChange{User: u, Change: setRole(r, "", u, old, Member)})
			admins--
		}
	}
	return out
}

func emailSet(emails []string) map[string]bool {
	set := make(map[string]bool, len(emails))
	for _, e := range emails {
		set[strings.ToLower(strings.TrimSpace(e))] = true
	}
	return set
}

// Remove is an admin (actor) removing target from the roster's tenant.
func Remove(r Roster, actor string, target Person) (MemberChange, error) {
	if r.Members[actor] != Admin {
		return MemberChange{}, ErrNotAdmin
	}
	if target.User.ID == actor {
		return MemberChange{}, ErrRemoveSelf
	}
	return end(r, actor, target, Removed)
}

// Leave is a member leaving the roster's tenant.
func Leave(r Roster, who Person) (MemberChange, error) {
	return end(r, who.User.ID, who, Left)
}

// Reason is why a membership ended.
type Reason string

// Reasons of TenantMemberRemoved.
const (
	Removed        Reason = "removed"
	Left           Reason = "left"
	TenantDeletion Reason = "tenant_deleted"
)

// end ends target's membership, unless they are the tenant's last admin.
func end(r Roster, actor string, target Person, why Reason) (MemberChange, error) {
	role, ok := r.Members[target.User.ID]
	if !ok {
		return MemberChange{}, fmt.Errorf("user %s: %w", target.User.ID, ErrNotMember)
	}
	if role == Admin && r.admins() == 1 {
		return MemberChange{}, ErrLastAdmin
	}
	return endMembership(r, actor, target, why), nil
}

// endMembership ends the membership of target, a member of the roster. A person is never left without a
// tenant: whoever loses their default tenant moves to another one they belong to (not suspended), or, with
// none, to a personal tenant: the first one made again if gone; a new one when the first still exists
// (they shared it and left it, or were removed from it: joining it again would undo that).
func endMembership(r Roster, actor string, target Person, why Reason) MemberChange {
	u := target.User
	role := r.Members[u.ID]
	c := MemberChange{Delete: &Membership{TenantID: r.TenantID, UserID: u.ID, Role: role},
		Announce: []Announcement{memberRemoved(r.TenantID, u.ID, role, why, actor)}}
	if u.TenantID != r.TenantID {
		return c
	}
	next, nextRole, ok := otherTenant(target, r.TenantID)
	if !ok {
		next, nextRole = PersonalTenantID(u.ID), Admin
		if target.PersonalTenantExists {
			next = target.FreshTenantID
		}
		c.PersonalTenant = &PersonalTenant{ID: next, Name: personalName(u)}
		c.Announce = append(c.Announce, tenantCreated(next, c.PersonalTenant.Name, u.ID))
		c.Join = &Membership{TenantID: next, UserID: u.ID, Role: Admin, Source: ByPersonal}
		c.Announce = append(c.Announce, memberAdded(*c.Join, ""))
	}
	u.TenantID, u.Role = next, nextRole
	c.UserDirty, c.SyncKeycloak = true, true
	c.Announce = append(c.Announce, userUpdated(u, []string{"tenant_id", "role"}))
	return c
}

// otherTenant picks the default tenant after leaving one: the smallest id among the others that are not
// suspended, so the choice is the same however often it is made.
func otherTenant(p Person, leaving string) (string, Role, bool) {
	ids := make([]string, 0, len(p.Tenants))
	for id := range p.Tenants {
		if id != leaving && !p.Suspended[id] {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return "", "", false
	}
	sort.Strings(ids)
	return ids[0], p.Tenants[ids[0]], true
}

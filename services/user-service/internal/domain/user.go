// Package domain is the user service's rules in plain Go, with no SQL: the lifecycle of a user (pending ->
// active -> deleted) driven by the states Keycloak reports, the watermark that keeps an older state from
// overwriting a newer one, confirmation, tenant placement and roles, and every event the service announces.
// The store is a repository around it: it loads and locks a User, calls Apply, and saves what Apply says.
package domain

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrInvalidEvent marks an IdP event that can never be applied (no user id, a type the service does not
// consume, a state change without a state).
var ErrInvalidEvent = errors.New("invalid event")

// ErrNotActive is returned for a change only an active user can make (renaming through the API).
var ErrNotActive = errors.New("user is not active")

// Status of a user.
type Status string

// The lifecycle: pending until a confirmed state is seen, then active; deleted is final.
const (
	Pending Status = "pending"
	Active  Status = "active"
	Deleted Status = "deleted"
)

// Role of a user in its tenant.
type Role string

// Roles.
const (
	Admin  Role = "admin"
	Member Role = "member"
)

// Identity is what Keycloak is the authority on.
type Identity struct {
	Email, UserName, Name  string
	EmailVerified, Enabled bool
	IdentityProviders      []string
}

// confirmed says whether Keycloak held the account usable: enabled, with a verified email.
func (i Identity) confirmed() bool { return i.Enabled && i.EmailVerified && i.Email != "" }

func (i Identity) equal(o Identity) bool {
	return i.Email == o.Email && i.UserName == o.UserName && i.Name == o.Name && i.EmailVerified == o.EmailVerified &&
		i.Enabled == o.Enabled && slices.Equal(i.IdentityProviders, o.IdentityProviders)
}

// Watermark orders states: Keycloak's time, then the CloudEvent id (two states of one millisecond).
type Watermark struct {
	ObservedAt time.Time
	EventID    string
}

// Before says whether w is older than o.
func (w Watermark) Before(o Watermark) bool {
	if !w.ObservedAt.Equal(o.ObservedAt) {
		return w.ObservedAt.Before(o.ObservedAt)
	}
	return w.EventID < o.EventID
}

// User is one user as the service stores it.
type User struct {
	ID, Realm string
	Identity
	Registered bool   // a registration was seen
	Method     string // how it registered: self_service, admin, backfill, brokered
	Status     Status
	Watermark  Watermark // of the newest state applied to Identity
	// PlacedBy is the verified email the user was placed with (the confirming state's email).
	PlacedBy    string
	TenantID    string
	Role        Role
	CreatedAt   time.Time // when the service first heard of the user
	ActivatedAt time.Time // zero until active
}

// NewUser is a user the service has just heard of. Keycloak's accounts are enabled unless it says otherwise.
func NewUser(id string, createdAt time.Time) *User {
	return &User{ID: id, Status: Pending, CreatedAt: createdAt, Identity: Identity{Enabled: true}}
}

// Change is what applying an event did, for the repository to save.
type Change struct {
	Dirty            bool            // the user changed: write it
	Announce         []Announcement  // events for the outbox, in order
	PersonalTenant   *PersonalTenant // create this tenant before writing the user
	Join             *Membership     // add this membership (the placement at activation)
	SyncKeycloak     bool            // bring the Keycloak account in line (the tenant)
	SyncName         bool            // ... and write our name to it (a rename through the API, never Keycloak's own)
	DropKeycloakSync bool            // the user is gone: forget pending write-backs
	// ErasePersonalTenant names the personal tenant whose name (the person's name or email) must go.
	ErasePersonalTenant string
}

// ErasedTenantName replaces a deleted person's name in their personal tenant, which stays as a tombstone.
const ErasedTenantName = "deleted user's tenant"

// PersonalTenant is a tenant of one, made when no declared tenant takes the user.
type PersonalTenant struct{ ID, Name string }

// Apply applies one IdP event to u. now is when it is applied (the activation time).
func (u *User) Apply(ctx context.Context, ev Event, dir Directory, now time.Time) (Change, error) {
	if u.Status == Deleted {
		return Change{}, nil // deletion is final: late or replayed events change nothing
	}
	if ev.Kind == KindDeleted {
		return u.delete(), nil
	}
	before := *u
	before.IdentityProviders = slices.Clone(u.IdentityProviders)
	u.noteRegistration(ev)
	seen := ev.State.over(u.Identity)
	if mark := (Watermark{ObservedAt: ev.State.ObservedAt, EventID: ev.ID}); u.Watermark.Before(mark) {
		u.Identity, u.Watermark = seen, mark
	} else {
		u.fillUnknown(seen)
	}
	var c Change
	switch {
	case u.Status == Pending && seen.confirmed() && (ev.State.full() || u.Registered):
		// The state this event reports was confirmed, however late it arrives: the email placed is the
		// one Keycloak verified in it, never a newer, unverified one.
		if err := u.activate(ctx, dir, seen.Email, now, &c); err != nil {
			return Change{}, err
		}
	case u.Status == Pending && u.confirmed() && u.Registered:
		// Only when partial (old-provider) states filled the row in pieces: then, as before states, the
		// registration must have been seen, or the user would be announced without the name it brings.
		if err := u.activate(ctx, dir, u.Email, now, &c); err != nil {
			return Change{}, err
		}
	case u.Status == Active:
		if changed := changedFields(before.Identity, u.Identity); len(changed) > 0 {
			c.Announce = append(c.Announce, userUpdated(u, changed))
		}
	}
	c.Dirty = c.Dirty || !u.equal(&before)
	return c, nil
}

func (u *User) noteRegistration(ev Event) {
	if ev.Realm != "" && u.Realm == "" {
		u.Realm = ev.Realm
	}
	if ev.Kind == KindRegistered && !u.Registered {
		u.Registered, u.Method = true, ev.Method
	}
}

// fillUnknown takes from an older state only what the row does not know at all (a newer partial state from
// an old provider left it empty); it never overwrites.
func (u *User) fillUnknown(seen Identity) {
	for _, f := range []struct {
		dst *string
		src string
	}{{&u.Email, seen.Email}, {&u.UserName, seen.UserName}, {&u.Name, seen.Name}} {
		if *f.dst == "" {
			*f.dst = f.src
		}
	}
}

func (u *User) activate(ctx context.Context, dir Directory, email string, now time.Time, c *Change) error {
	p, err := Place(ctx, dir, u.ID, email, personalName(u))
	if err != nil {
		return fmt.Errorf("place user %s: %w", u.ID, err)
	}
	u.Status, u.TenantID, u.Role, u.PlacedBy, u.ActivatedAt = Active, p.TenantID, p.Role, strings.ToLower(email), now
	c.Dirty, c.SyncKeycloak = true, true
	if p.Personal {
		c.PersonalTenant = &PersonalTenant{ID: p.TenantID, Name: p.TenantName}
		c.Announce = append(c.Announce, tenantCreated(p.TenantID, p.TenantName, u.ID))
	}
	c.Join = &Membership{TenantID: p.TenantID, UserID: u.ID, Role: p.Role, Source: p.Source}
	c.Announce = append(c.Announce, memberAdded(*c.Join, ""), userCreated(u))
	return nil
}

// delete erases the personal data and keeps the row as a tombstone, so that late events change nothing.
func (u *User) delete() Change {
	// The repository deletes the memberships of a deleted user: UserRemoved says it for all of them.
	// The personal tenant exists, named after the person, whether or not they were still in it.
	c := Change{Dirty: true, DropKeycloakSync: true, ErasePersonalTenant: PersonalTenantID(u.ID)}
	if u.Status == Active { // nobody was told about a user that never became active
		c.Announce = append(c.Announce, userRemoved(u.ID, u.TenantID))
	}
	u.Status, u.Identity, u.PlacedBy, u.TenantID, u.Role = Deleted, Identity{}, "", "", ""
	return c
}

// Rename changes the name from the API; Keycloak gets it through the write-back.
func (u *User) Rename(name string) (Change, error) {
	if u.Status != Active {
		return Change{}, fmt.Errorf("rename %s: %w", u.ID, ErrNotActive)
	}
	if u.Name == name {
		return Change{}, nil
	}
	u.Name = name
	return Change{Dirty: true, SyncKeycloak: true, SyncName: true, Announce: []Announcement{userUpdated(u, []string{"name"})}}, nil
}

func (u *User) equal(o *User) bool {
	return u.Identity.equal(o.Identity) && u.Realm == o.Realm && u.Registered == o.Registered && u.Method == o.Method &&
		u.Status == o.Status && u.Watermark.ObservedAt.Equal(o.Watermark.ObservedAt) && u.Watermark.EventID == o.Watermark.EventID && u.PlacedBy == o.PlacedBy && u.TenantID == o.TenantID &&
		u.Role == o.Role && u.ActivatedAt.Equal(o.ActivatedAt)
}

// changedFields names what UserUpdated reports (its User message carries these).
func changedFields(a, b Identity) []string {
	var out []string
	if a.Email != b.Email {
		out = append(out, "email")
	}
	if a.EmailVerified != b.EmailVerified {
		out = append(out, "email_verified")
	}
	if a.Name != b.Name {
		out = append(out, "name")
	}
	if a.UserName != b.UserName {
		out = append(out, "user_name")
	}
	if a.Enabled != b.Enabled {
		out = append(out, "enabled")
	}
	return out
}

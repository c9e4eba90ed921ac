package domain_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/connectedbbq/platform/pkg/events"
	eventsv1 "github.com/connectedbbq/platform/pkg/gen/bbq/events/v1"
	"github.com/connectedbbq/platform/services/user-service/internal/domain"
)

// shared is a tenant with two admins (ann, bob) and a member (cat).
func shared() domain.Roster {
	return domain.Roster{TenantID: "t", Members: map[string]domain.Role{"ann": domain.Admin, "bob": domain.Admin, "cat": domain.Member}}
}

// soleAdmin is a tenant whose only admin is ann, with a member cat.
func soleAdmin() domain.Roster {
	return domain.Roster{TenantID: "t", Members: map[string]domain.Role{"ann": domain.Admin, "cat": domain.Member}}
}

// person is id, whose default tenant is def, belonging to tenants.
func person(id, def string, tenants map[string]domain.Role, personalExists bool) domain.Person {
	return domain.Person{User: &domain.User{ID: id, Status: domain.Active, TenantID: def, Role: tenants[def], Identity: domain.Identity{Name: id}},
		Tenants: tenants, PersonalTenantExists: personalExists, FreshTenantID: "fresh-" + id}
}

func kinds(c domain.MemberChange) []string {
	var out []string
	for _, a := range c.Announce {
		out = append(out, a.Kind.Type)
	}
	return out
}

func types(ks ...events.Kind) []string {
	var out []string
	for _, k := range ks {
		out = append(out, k.Type)
	}
	return out
}

func TestMembershipRules(t *testing.T) {
	inT := map[string]domain.Role{"t": domain.Member}
	inTAndU := map[string]domain.Role{"t": domain.Member, "u": domain.Admin}
	adminInT := map[string]domain.Role{"t": domain.Admin}
	for _, tc := range []struct {
		name        string
		run         func() (domain.MemberChange, error)
		err         error
		want        []events.Kind
		makesTenant bool
	}{
		{name: "admin promotes a member",
			run: func() (domain.MemberChange, error) {
				return domain.ChangeRole(shared(), "ann", person("cat", "t", inT, true), domain.Admin)
			},
			want: []events.Kind{events.TenantMemberRoleChanged, events.UserUpdated}},
		{name: "role change outside the default tenant leaves the user alone",
			run: func() (domain.MemberChange, error) {
				return domain.ChangeRole(shared(), "ann", person("cat", "u", inTAndU, true), domain.Admin)
			},
			want: []events.Kind{events.TenantMemberRoleChanged}},
		{name: "same role changes nothing",
			run: func() (domain.MemberChange, error) {
				return domain.ChangeRole(shared(), "ann", person("cat", "t", inT, true), domain.Member)
			}},
		{name: "member cannot change roles", err: domain.ErrNotAdmin,
			run: func() (domain.MemberChange, error) {
				return domain.ChangeRole(shared(), "cat", person("ann", "t", adminInT, true), domain.Member)
			}},
		{name: "outsider cannot change roles", err: domain.ErrNotAdmin,
			run: func() (domain.MemberChange, error) {
				return domain.ChangeRole(shared(), "zed", person("cat", "t", inT, true), domain.Admin)
			}},
		{name: "role of a non-member", err: domain.ErrNotMember,
			run: func() (domain.MemberChange, error) {
				return domain.ChangeRole(shared(), "ann", person("zed", "u", nil, true), domain.Admin)
			}},
		{name: "empty role", err: domain.ErrEmptyRole,
			run: func() (domain.MemberChange, error) {
				return domain.ChangeRole(shared(), "ann", person("cat", "t", inT, true), "")
			}},
		{name: "admin demotes another admin",
			run: func() (domain.MemberChange, error) {
				return domain.ChangeRole(shared(), "ann", person("bob", "t", adminInT, true), domain.Member)
			},
			want: []events.Kind{events.TenantMemberRoleChanged, events.UserUpdated}},
		{name: "last admin cannot demote themself", err: domain.ErrLastAdmin,
			run: func() (domain.MemberChange, error) {
				return domain.ChangeRole(soleAdmin(), "ann", person("ann", "t", adminInT, true), domain.Member)
			}},
		{name: "admin removes a member with another tenant: default moves there",
			run: func() (domain.MemberChange, error) {
				return domain.Remove(shared(), "ann", person("cat", "t", inTAndU, true))
			},
			want: []events.Kind{events.TenantMemberRemoved, events.UserUpdated}},
		{name: "admin removes a member whose only tenant it is: personal tenant made again",
			run: func() (domain.MemberChange, error) {
				return domain.Remove(shared(), "ann", person("cat", "t", inT, false))
			},
			want:        []events.Kind{events.TenantMemberRemoved, events.TenantCreated, events.TenantMemberAdded, events.UserUpdated},
			makesTenant: true},
		{name: "removed from a tenant that is not the default one",
			run: func() (domain.MemberChange, error) {
				return domain.Remove(shared(), "ann", person("cat", "u", inTAndU, true))
			},
			want: []events.Kind{events.TenantMemberRemoved}},
		{name: "member cannot remove", err: domain.ErrNotAdmin,
			run: func() (domain.MemberChange, error) {
				return domain.Remove(shared(), "cat", person("ann", "t", adminInT, true))
			}},
		{name: "admin cannot remove themself", err: domain.ErrRemoveSelf,
			run: func() (domain.MemberChange, error) {
				return domain.Remove(shared(), "ann", person("ann", "t", adminInT, true))
			}},
		{name: "remove a non-member", err: domain.ErrNotMember,
			run: func() (domain.MemberChange, error) {
				return domain.Remove(shared(), "ann", person("zed", "u", nil, true))
			}},
		{name: "member whose personal tenant lives on without them leaves: a new personal tenant",
			run:         func() (domain.MemberChange, error) { return domain.Leave(shared(), person("cat", "t", inT, true)) },
			want:        []events.Kind{events.TenantMemberRemoved, events.TenantCreated, events.TenantMemberAdded, events.UserUpdated},
			makesTenant: true},
		{name: "an admin of two leaves",
			run: func() (domain.MemberChange, error) {
				return domain.Leave(shared(), person("bob", "t", map[string]domain.Role{"t": domain.Admin, "u": domain.Admin}, true))
			},
			want: []events.Kind{events.TenantMemberRemoved, events.UserUpdated}},
		{name: "last admin cannot leave", err: domain.ErrLastAdmin,
			run: func() (domain.MemberChange, error) {
				return domain.Leave(soleAdmin(), person("ann", "t", adminInT, true))
			}},
		{name: "leave a tenant one is not in", err: domain.ErrNotMember,
			run: func() (domain.MemberChange, error) { return domain.Leave(shared(), person("zed", "u", nil, true)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.run()
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err != nil {
				if len(c.Announce) > 0 || c.Delete != nil || c.SetRole != nil {
					t.Errorf("refused action changed something: %+v", c)
				}
				return
			}
			if got := kinds(c); !slices.Equal(got, types(tc.want...)) {
				t.Errorf("announced %v, want %v", got, tc.want)
			}
			if (c.PersonalTenant != nil) != tc.makesTenant {
				t.Errorf("personal tenant made = %v, want %v", c.PersonalTenant != nil, tc.makesTenant)
			}
			if c.SyncKeycloak != c.UserDirty && c.Delete != nil {
				t.Errorf("default tenant moved without a Keycloak sync")
			}
		})
	}
}

// The default tenant after a removal is the one the change points the user at.
func TestRemoveMovesDefaultTenant(t *testing.T) {
	p := person("cat", "t", map[string]domain.Role{"t": domain.Member, "b": domain.Member, "a": domain.Admin}, true)
	c, err := domain.Remove(shared(), "ann", p)
	if err != nil {
		t.Fatal(err)
	}
	if p.User.TenantID != "a" || p.User.Role != domain.Admin || !c.SyncKeycloak || !c.UserDirty {
		t.Errorf("user now in %s as %s (sync %v); want a as admin, synced", p.User.TenantID, p.User.Role, c.SyncKeycloak)
	}
}

// Activation adds the placement as a membership, and TenantMemberAdded says how.
func TestActivationJoinsWithSource(t *testing.T) {
	for _, tc := range []struct {
		email  string
		source domain.Source
		how    eventsv1.MembershipSource
	}{
		{"boss@acme.example", domain.ByDeclared, eventsv1.MembershipSource_MEMBERSHIP_SOURCE_DECLARED},
		{"eve@acme.example", domain.ByDomain, eventsv1.MembershipSource_MEMBERSHIP_SOURCE_DOMAIN},
		{"solo@free.example", domain.ByPersonal, eventsv1.MembershipSource_MEMBERSHIP_SOURCE_PERSONAL},
	} {
		u := domain.NewUser("u1", t0)
		email, yes := tc.email, true
		c, err := u.Apply(context.Background(), domain.Event{ID: "e1", Kind: domain.KindRegistered,
			State: domain.State{Email: &email, EmailVerified: &yes, Enabled: &yes, ObservedAt: t0}}, acme, t0)
		if err != nil {
			t.Fatal(err)
		}
		var how eventsv1.MembershipSource
		for _, a := range c.Announce {
			if m, ok := a.Data.(*eventsv1.TenantMemberAdded); ok {
				how = m.GetHow()
			}
		}
		if c.Join == nil || c.Join.Source != tc.source || c.Join.TenantID != u.TenantID || how != tc.how {
			t.Errorf("%s: join %+v, how %v; want %s", tc.email, c.Join, how, tc.source)
		}
	}
}

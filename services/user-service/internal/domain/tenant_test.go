package domain_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/connectedbbq/platform/pkg/events"
	"github.com/connectedbbq/platform/services/user-service/internal/domain"
)

func TestTenantName(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      error
	}{
		{"  Smoke & Co ", "Smoke & Co", nil},
		{strings.Repeat("é", 100), strings.Repeat("é", 100), nil},
		{"", "", domain.ErrInvalidName},
		{"   ", "", domain.ErrInvalidName},
		{strings.Repeat("x", 101), "", domain.ErrInvalidName},
		{"tab\there", "", domain.ErrInvalidName},
		{"nul\x00", "", domain.ErrInvalidName},
		{"\xff", "", domain.ErrInvalidName},
	} {
		got, err := domain.TenantName(tc.in)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("TenantName(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func tenantKinds(c domain.TenantChange) []string {
	var out []string
	for _, m := range c.Members {
		out = append(out, kinds(m.Change)...)
	}
	for _, a := range c.Announce {
		out = append(out, a.Kind.Type)
	}
	return out
}

func TestRename(t *testing.T) {
	shared := domain.Tenant{ID: "t", Name: "Old", Kind: domain.KindPersonal}
	for _, tc := range []struct {
		name, actor, to string
		tenant          domain.Tenant
		err             error
		want            []events.Kind
	}{
		{"admin renames", "ann", "New", shared, nil, []events.Kind{events.TenantUpdated}},
		{"same name: nothing", "ann", " Old ", shared, nil, nil},
		{"member", "cat", "New", shared, domain.ErrNotTenantAdmin, nil},
		{"stranger", "zed", "New", shared, domain.ErrNotTenantAdmin, nil},
		{"invalid", "ann", "", shared, domain.ErrInvalidName, nil},
		{"declared", "ann", "New", domain.Tenant{ID: "t", Name: "Old", Kind: domain.KindDeclared}, domain.ErrDeclaredTenant, nil},
	} {
		c, err := domain.Rename(soleAdmin(), tc.actor, tc.tenant, tc.to)
		if !errors.Is(err, tc.err) || !slices.Equal(tenantKinds(c), types(tc.want...)) {
			t.Errorf("%s: %v %v; want %v %v", tc.name, tenantKinds(c), err, tc.err, types(tc.want...))
		}
	}
}

func TestDeleteTenant(t *testing.T) {
	tenant := domain.Tenant{ID: "t", Name: "T", Kind: domain.KindPersonal}
	// ann: t is her default, u her other tenant; cat: t only, personal gone; dan: default elsewhere.
	people := func() map[string]domain.Person {
		return map[string]domain.Person{
			"ann": person("ann", "t", map[string]domain.Role{"t": domain.Admin, "u": domain.Member}, true),
			"cat": person("cat", "t", map[string]domain.Role{"t": domain.Member}, false),
			"dan": person("dan", "d", map[string]domain.Role{"t": domain.Member, "d": domain.Admin}, true),
		}
	}
	r := domain.Roster{TenantID: "t", Members: map[string]domain.Role{"ann": domain.Admin, "cat": domain.Member, "dan": domain.Member}}
	c, err := domain.DeleteTenant(r, "ann", tenant, people())
	if err != nil {
		t.Fatal(err)
	}
	want := types(
		events.TenantMemberRemoved, events.UserUpdated, // ann moves to u
		events.TenantMemberRemoved, events.TenantCreated, events.TenantMemberAdded, events.UserUpdated, // cat: personal again
		events.TenantMemberRemoved, // dan keeps d
		events.TenantDeleted)
	if got := tenantKinds(c); !slices.Equal(got, want) || !c.Delete {
		t.Errorf("deletion announced %v (delete %v); want %v", got, c.Delete, want)
	}
	if u := c.Members[0].User; u.TenantID != "u" || u.Role != domain.Member {
		t.Errorf("ann now in %s as %s; want u as member", u.TenantID, u.Role)
	}
	if u := c.Members[1].User; u.TenantID != domain.PersonalTenantID("cat") || c.Members[1].Change.PersonalTenant == nil {
		t.Errorf("cat now in %s; want a new personal tenant", u.TenantID)
	}

	for _, tc := range []struct {
		name, actor string
		tenant      domain.Tenant
		people      map[string]domain.Person
		err         error
	}{
		{"member", "cat", tenant, people(), domain.ErrNotTenantAdmin},
		{"declared", "ann", domain.Tenant{ID: "t", Kind: domain.KindDeclared}, people(), domain.ErrDeclaredTenant},
		{"owner's only tenant", "ann", domain.Tenant{ID: domain.PersonalTenantID("ann"), Kind: domain.KindPersonal},
			map[string]domain.Person{"ann": person("ann", domain.PersonalTenantID("ann"), map[string]domain.Role{domain.PersonalTenantID("ann"): domain.Admin}, true)},
			domain.ErrOnlyTenant},
	} {
		r := domain.Roster{TenantID: tc.tenant.ID, Members: map[string]domain.Role{}}
		for id, p := range tc.people {
			r.Members[id] = p.Tenants[tc.tenant.ID]
		}
		if tc.tenant.ID == "t" {
			r.Members = map[string]domain.Role{"ann": domain.Admin, "cat": domain.Member, "dan": domain.Member}
		}
		if _, err := domain.DeleteTenant(r, tc.actor, tc.tenant, tc.people); !errors.Is(err, tc.err) {
			t.Errorf("%s: %v; want %v", tc.name, err, tc.err)
		}
	}
}

// A person leaving their default tenant never moves into a suspended one.
func TestMovesSkipSuspendedTenants(t *testing.T) {
	p := person("cat", "t", map[string]domain.Role{"t": domain.Member, "a": domain.Admin, "b": domain.Member}, true)
	p.Suspended = map[string]bool{"a": true}
	c, err := domain.Leave(soleAdmin(), p)
	if err != nil || p.User.TenantID != "b" || !c.SyncKeycloak {
		t.Fatalf("cat now in %s (%v); want b, not the suspended a", p.User.TenantID, err)
	}
}

func TestSwitchDefault(t *testing.T) {
	tenants := map[string]domain.Role{"t": domain.Member, "u": domain.Admin}
	for _, tc := range []struct {
		name       string
		to         domain.Tenant
		err        error
		want       []events.Kind
		tenant     string
		role       domain.Role
		syncTokens bool
	}{
		{"to another of theirs", domain.Tenant{ID: "u"}, nil, []events.Kind{events.UserUpdated}, "u", domain.Admin, true},
		{"to the default: nothing", domain.Tenant{ID: "t"}, nil, nil, "t", domain.Member, false},
		{"to a stranger's", domain.Tenant{ID: "x"}, domain.ErrNotMemberOf, nil, "t", domain.Member, false},
		{"to a suspended one", domain.Tenant{ID: "u", Suspended: true}, domain.ErrSuspended, nil, "t", domain.Member, false},
	} {
		p := person("cat", "t", tenants, true)
		c, err := domain.SwitchDefault(p, tc.to)
		if !errors.Is(err, tc.err) || !slices.Equal(kinds(c), types(tc.want...)) || c.SyncKeycloak != tc.syncTokens ||
			p.User.TenantID != tc.tenant || p.User.Role != tc.role {
			t.Errorf("%s: %v %v, user in %s as %s (sync %v)", tc.name, kinds(c), err, p.User.TenantID, p.User.Role, c.SyncKeycloak)
		}
	}
}

func TestSuspendedTenantsPlaceNobody(t *testing.T) {
	dir := directory{{ID: "acme", Name: "Acme", Domains: []string{"acme.example"}, Admins: []string{"boss@acme.example"}, Suspended: true}}
	for _, email := range []string{"boss@acme.example", "worker@acme.example"} {
		p, err := domain.Place(context.Background(), dir, "u1", email, "x's tenant")
		if err != nil || p.TenantID != domain.PersonalTenantID("u1") || !p.Personal {
			t.Errorf("%s placed in %+v (%v); want the personal tenant", email, p, err)
		}
	}
}

func TestApplyListedAdminsPromotes(t *testing.T) {
	r := domain.Roster{TenantID: "t", Members: map[string]domain.Role{"ann": domain.Admin, "bob": domain.Member, "cat": domain.Member, "dan": domain.Member}}
	people := map[string]domain.Person{}
	for id, def := range map[string]string{"ann": "t", "bob": "t", "cat": "other", "dan": "t"} {
		p := person(id, def, map[string]domain.Role{"t": r.Members[id], "other": domain.Admin}, true)
		p.User.Email, p.User.EmailVerified = id+"@acme.example", id != "dan"
		people[id] = p
	}
	// bob's default is t: his token's role follows; cat's is not; dan's email is not verified; ann is admin.
	got := domain.ApplyListedAdmins(r, nil, []string{"ANN@acme.example", " bob@acme.example", "cat@acme.example", "dan@acme.example"}, people)
	var who []string
	var ks []string
	for _, c := range got {
		who = append(who, c.User.ID)
		ks = append(ks, kinds(c.Change)...)
	}
	want := types(events.TenantMemberRoleChanged, events.UserUpdated, events.TenantMemberRoleChanged)
	if !slices.Equal(who, []string{"bob", "cat"}) || !slices.Equal(ks, want) || !got[0].Change.SyncKeycloak || got[1].Change.SyncKeycloak {
		t.Errorf("promoted %v announcing %v; want bob and cat, %v, bob's tokens synced", who, ks, want)
	}
}

func TestApplyListedAdminsDemotesWhomTheOperatorUnlisted(t *testing.T) {
	roster := func(roles map[string]domain.Role) (domain.Roster, map[string]domain.Person) {
		r := domain.Roster{TenantID: "t", Members: roles}
		people := map[string]domain.Person{}
		for id, role := range roles {
			p := person(id, "t", map[string]domain.Role{"t": role}, true)
			p.User.Email, p.User.EmailVerified = id+"@acme.example", true
			people[id] = p
		}
		return r, people
	}
	A, M := domain.Admin, domain.Member
	for _, tc := range []struct {
		name          string
		roles         map[string]domain.Role
		before, after []string
		want          map[string]domain.Role // the changed roles
	}{
		{name: "unlisted admin becomes member", roles: map[string]domain.Role{"ann": A, "bob": A},
			before: []string{"ann@acme.example", "bob@acme.example"}, after: []string{"ann@acme.example"}, want: map[string]domain.Role{"bob": M}},
		{name: "an admin made in the dashboard stays", roles: map[string]domain.Role{"ann": A, "bob": A},
			before: []string{"ann@acme.example"}, after: []string{"ann@acme.example"}, want: map[string]domain.Role{}},
		{name: "the last admin stays", roles: map[string]domain.Role{"ann": A, "bob": M},
			before: []string{"ann@acme.example"}, after: nil, want: map[string]domain.Role{}},
		{name: "one of two unlisted admins stays (the first by id goes)", roles: map[string]domain.Role{"ann": A, "bob": A},
			before: []string{"ann@acme.example", "bob@acme.example"}, after: nil, want: map[string]domain.Role{"ann": M}},
		{name: "handing over: the new admin is promoted, so the old one can go", roles: map[string]domain.Role{"ann": A, "zed": M},
			before: []string{"ANN@acme.example"}, after: []string{"zed@acme.example"}, want: map[string]domain.Role{"ann": M, "zed": A}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, people := roster(tc.roles)
			got := map[string]domain.Role{}
			for _, c := range domain.ApplyListedAdmins(r, tc.before, tc.after, people) {
				got[c.User.ID] = c.Change.SetRole.Role
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("changed roles %v; want %v", got, tc.want)
			}
		})
	}
}

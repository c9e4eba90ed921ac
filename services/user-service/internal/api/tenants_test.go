package api_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/connectedbbq/platform/pkg/events"
	"github.com/connectedbbq/platform/services/user-service/internal/domain"
	"github.com/connectedbbq/platform/services/user-service/internal/store"
)

// suspend sets the declared tenant "shared" suspended or not, as the Tenant resource would.
func (e *env) suspend(suspended bool) {
	e.t.Helper()
	if _, err := e.s.PutTenant(context.Background(), store.Tenant{ID: "shared", DisplayName: "Shared", EmailDomains: []string{"shared.example"},
		Admins: []string{"ann@shared.example"}, Suspended: suspended}); err != nil {
		e.t.Fatal(err)
	}
}

type tenantCase struct {
	name, method, path, token, header, body string
	status                                  int
	problem                                 string // the problem type, for refusals
	want                                    map[string]int
}

// run sends each case and checks its status, problem type and the events it announced.
func (e *env) run(cases []tenantCase) {
	e.t.Helper()
	for _, tc := range cases {
		before := e.outbox()
		status, p := e.call(tc.method, tc.path, tc.token, tc.header, tc.body)
		got := e.announced(before)
		if typ, _ := p["type"].(string); status != tc.status || (tc.problem != "" && typ != tc.problem) {
			e.t.Errorf("%s: %d %v; want %d %s", tc.name, status, p, tc.status, tc.problem)
		}
		if want := tc.want; want != nil && !maps.Equal(got, want) || want == nil && len(got) != 0 {
			e.t.Errorf("%s: announced %v; want %v", tc.name, got, tc.want)
		}
	}
}

func TestRefusedTenantActions(t *testing.T) {
	e, dans := sharedTenant(t)
	ann, cat, dan := e.token("ann", "shared"), e.token("cat", "shared"), e.token("dan", dans)
	const (
		notAdmin, declared, invalid = "urn:bbq:problem:not-an-admin", "urn:bbq:problem:declared-tenant", "urn:bbq:problem:invalid-tenant-name"
		notMember, suspended, only  = "urn:bbq:problem:not-a-member", "urn:bbq:problem:tenant-suspended", "urn:bbq:problem:only-tenant"
	)
	e.run([]tenantCase{
		{name: "member renames", method: "PATCH", path: "/v1/tenant", token: e.token("bob", dans), body: `{"displayName":"X"}`, status: 403, problem: notAdmin},
		{name: "member deletes", method: "DELETE", path: "/v1/tenant", token: cat, status: 403, problem: notAdmin},
		{name: "empty name", method: "PATCH", path: "/v1/tenant", token: dan, body: `{"displayName":"  "}`, status: 422, problem: invalid},
		{name: "long name", method: "PATCH", path: "/v1/tenant", token: dan, body: `{"displayName":"` + strings.Repeat("x", 101) + `"}`, status: 422, problem: invalid},
		{name: "control character", method: "PATCH", path: "/v1/tenant", token: dan, body: `{"displayName":"a\u0007b"}`, status: 422, problem: invalid},
		{name: "no name", method: "PATCH", path: "/v1/tenant", token: dan, body: `{}`, status: 422, problem: invalid},
		{name: "unknown field", method: "PATCH", path: "/v1/tenant", token: dan, body: `{"displayName":"X","kind":"declared"}`, status: 400},
		{name: "rename a declared tenant", method: "PATCH", path: "/v1/tenant", token: ann, body: `{"displayName":"X"}`, status: 409, problem: declared},
		{name: "delete a declared tenant", method: "DELETE", path: "/v1/tenant", token: ann, status: 409, problem: declared},
		{name: "delete a tenant that does not exist", method: "DELETE", path: "/v1/tenant", token: e.token("cat", domain.PersonalTenantID("cat")), status: 403, problem: notMember},
		{name: "delete a tenant one is not in", method: "DELETE", path: "/v1/tenant", token: cat, header: dans, status: 403, problem: notMember},
		{name: "switch to a tenant one is not in", method: "PUT", path: "/v1/me/default-tenant", token: cat, body: `{"tenantId":"` + dans + `"}`, status: 403, problem: notMember},
		{name: "switch to no tenant", method: "PUT", path: "/v1/me/default-tenant", token: cat, body: `{"tenantId":"nowhere"}`, status: 403, problem: notMember},
		{name: "switch without an id", method: "PUT", path: "/v1/me/default-tenant", token: cat, body: `{}`, status: 422},
		{name: "switch to an id Postgres cannot hold", method: "PUT", path: "/v1/me/default-tenant", token: cat, body: `{"tenantId":"a\u0000b"}`, status: 403, problem: notMember},
		{name: "remove a member whose id Postgres cannot hold", method: "DELETE", path: "/v1/tenant/members/a%00b", token: dan, status: 404, problem: "about:blank"},
	})
	// dan's personal tenant is dan's only one once bob has left it.
	e.run([]tenantCase{
		{name: "bob leaves dan's tenant", method: "POST", path: "/v1/tenant/leave", token: e.token("bob", dans), status: 204, want: map[string]int{events.TenantMemberRemoved.Subject: 1}},
		{name: "dan deletes his only tenant", method: "DELETE", path: "/v1/tenant", token: dan, status: 409, problem: only},
	})

	// A suspended tenant: every /v1/tenant... request of its members is refused, and nobody switches to it.
	e.suspend(true)
	var cases []tenantCase
	for _, r := range [][3]string{{"GET", "/v1/tenant", ""}, {"GET", "/v1/tenant/members", ""}, {"PATCH", "/v1/tenant", `{"displayName":"X"}`},
		{"DELETE", "/v1/tenant", ""}, {"POST", "/v1/tenant/leave", ""}, {"PATCH", "/v1/tenant/members/bob", `{"role":"admin"}`}, {"DELETE", "/v1/tenant/members/bob", ""}} {
		cases = append(cases, tenantCase{name: "suspended: " + r[0] + " " + r[1], method: r[0], path: r[1], token: ann, body: r[2], status: 403, problem: suspended})
	}
	cases = append(cases, tenantCase{name: "switch into a suspended tenant", method: "PUT", path: "/v1/me/default-tenant", token: e.token("bob", dans),
		body: `{"tenantId":"shared"}`, status: 403, problem: suspended})
	e.run(cases)
	// Nobody is placed into it: a new person of its domain gets a personal tenant.
	if got := e.activate("fay", "fay@shared.example"); got != domain.PersonalTenantID("fay") {
		t.Errorf("fay placed in %s while shared is suspended", got)
	}
	e.suspend(false)
	if status, p := e.call("GET", "/v1/tenant", ann, "", ""); status != 200 {
		t.Errorf("after the suspension was lifted: %d %v", status, p)
	}
}

// Each tenant action announces its events once; repeating it announces nothing.
func TestTenantActionsAnnounceOnce(t *testing.T) {
	e, dans := sharedTenant(t)
	eves := e.activate("eve", "eve@solo.example")
	e.join(eves, "bob", "member")
	e.join(eves, "cat", "admin")
	e.join(dans, "eve", "member")
	eve, bob := e.token("eve", eves), e.token("bob", "shared")
	updated, removed, deleted := events.TenantUpdated.Subject, events.TenantMemberRemoved.Subject, events.TenantDeleted.Subject
	userUpdated, created, added := events.UserUpdated.Subject, events.TenantCreated.Subject, events.TenantMemberAdded.Subject
	e.run([]tenantCase{
		{name: "eve renames her tenant", method: "PATCH", path: "/v1/tenant", token: eve, body: `{"displayName":" Eve's grill "}`, status: 200, want: map[string]int{updated: 1}},
		{name: "the same name again", method: "PATCH", path: "/v1/tenant", token: eve, body: `{"displayName":"Eve's grill"}`, status: 200, want: map[string]int{}},
		{name: "bob switches to eve's tenant", method: "PUT", path: "/v1/me/default-tenant", token: bob, body: `{"tenantId":"` + eves + `"}`, status: 200, want: map[string]int{userUpdated: 1}},
		{name: "switching again", method: "PUT", path: "/v1/me/default-tenant", token: bob, body: `{"tenantId":"` + eves + `"}`, status: 200, want: map[string]int{}},
		// eve moves to dan's tenant, bob to the smaller of shared and dan's; cat's default stays shared.
		{name: "eve deletes her tenant", method: "DELETE", path: "/v1/tenant", token: eve, status: 204, want: map[string]int{removed: 3, userUpdated: 2, deleted: 1}},
		{name: "deleting it again", method: "DELETE", path: "/v1/tenant", token: eve, status: 403, want: map[string]int{}},
	})
	if status, p := e.call("GET", "/v1/tenant", eve, "", ""); status != 403 || p["type"] != "urn:bbq:problem:not-a-member" {
		t.Errorf("eve's token for the deleted tenant: %d %v", status, p)
	}
	_, me := e.call("GET", "/v1/me", bob, "", "")
	if want := slices.Min([]string{"shared", dans}); me["tenantId"] != want {
		t.Errorf("bob's default after the deletion: %v; want %s", me["tenantId"], want)
	}
	var tenant, role string
	if err := e.db.QueryRow(context.Background(), `SELECT tenant_id, role FROM users WHERE id = 'eve'`).Scan(&tenant, &role); err != nil || tenant != dans || role != "member" {
		t.Errorf("eve now in %s as %s (%v); want dan's tenant as member", tenant, role, err)
	}
	// The owner of a deleted personal tenant who leaves their last tenant gets it back, announced.
	e.run([]tenantCase{
		{name: "dan makes eve admin", method: "PATCH", path: "/v1/tenant/members/eve", token: e.token("dan", dans), body: `{"role":"admin"}`, status: 200,
			want: map[string]int{events.TenantMemberRoleChanged.Subject: 1, userUpdated: 1}},
		{name: "eve leaves dan's tenant", method: "POST", path: "/v1/tenant/leave", token: e.token("eve", dans), status: 204,
			want: map[string]int{removed: 1, created: 1, added: 1, userUpdated: 1}},
	})
}

// Two admins deleting the same tenant at once: one deletes it, the other finds it gone; the events are
// announced once.
func TestConcurrentDeletesAnnounceOnce(t *testing.T) {
	e, dans := sharedTenant(t)
	e.call("PATCH", "/v1/tenant/members/bob", e.token("dan", dans), "", `{"role":"admin"}`)
	e.join(dans, "cat", "member")
	e.join("shared", "dan", "member") // dan moves to shared; bob's and cat's default is shared already
	before := e.outbox()
	statuses := make(chan int, 2)
	for _, who := range []string{"dan", "bob"} {
		go func() {
			status, _ := e.call("DELETE", "/v1/tenant", e.token(who, dans), dans, "")
			statuses <- status
		}()
	}
	got := []int{<-statuses, <-statuses}
	slices.Sort(got)
	if want := []int{204, 403}; !slices.Equal(got, want) {
		t.Errorf("statuses %v; want %v", got, want)
	}
	if n := e.announced(before); n[events.TenantDeleted.Subject] != 1 || n[events.TenantMemberRemoved.Subject] != 3 {
		t.Errorf("announced %v; want one TenantDeleted and three TenantMemberRemoved", n)
	}
}

// The Tenant resource's side (the admin API's store calls): listed admins are promoted, a changed name or
// suspension is announced once, a personal tenant's id is refused, a tenant with members is kept.
func TestDeclaredTenantRules(t *testing.T) {
	e, dans := sharedTenant(t)
	ctx := context.Background()
	put := func(admins []string, suspended bool) (map[string]int, error) {
		before := e.outbox()
		_, err := e.s.PutTenant(ctx, store.Tenant{ID: "shared", DisplayName: "Shared", EmailDomains: []string{"shared.example"}, Admins: admins, Suspended: suspended})
		return e.announced(before), err
	}
	changed, userUpdated, tenantUpdated := events.TenantMemberRoleChanged.Subject, events.UserUpdated.Subject, events.TenantUpdated.Subject
	for _, tc := range []struct {
		name      string
		admins    []string
		suspended bool
		want      map[string]int
	}{
		{"bob listed as admin later", []string{"ann@shared.example", "BOB@shared.example"}, false, map[string]int{changed: 1, userUpdated: 1}},
		{"the same spec again", []string{"ann@shared.example", "bob@shared.example"}, false, map[string]int{}},
		{"suspended", []string{"ann@shared.example", "bob@shared.example"}, true, map[string]int{tenantUpdated: 1}},
		{"suspended again", []string{"ann@shared.example", "bob@shared.example"}, true, map[string]int{}},
	} {
		if got, err := put(tc.admins, tc.suspended); err != nil || !maps.Equal(got, tc.want) {
			t.Errorf("%s: announced %v (%v); want %v", tc.name, got, err, tc.want)
		}
	}
	var role string
	if err := e.db.QueryRow(ctx, `SELECT role FROM memberships WHERE tenant_id = 'shared' AND user_id = 'bob'`).Scan(&role); err != nil || role != "admin" {
		t.Errorf("bob is %s in shared (%v); want admin", role, err)
	}
	before := e.outbox()
	if _, err := e.s.PutTenant(ctx, store.Tenant{ID: dans, DisplayName: "Taken"}); !errors.Is(err, store.ErrNotDeclared) {
		t.Errorf("a resource with a personal tenant's id: %v; want ErrNotDeclared", err)
	}
	if got, err := e.s.GetTenant(ctx, dans); err != nil || got.DisplayName == "Taken" || got.Kind != "personal" || len(e.announced(before)) != 0 {
		t.Errorf("the personal tenant after the refused put: %+v (%v)", got, err)
	}
	if err := e.s.DeleteTenant(ctx, "shared"); !errors.Is(err, store.ErrHasMembers) {
		t.Errorf("deleting a declared tenant with members: %v; want ErrHasMembers", err)
	}
}

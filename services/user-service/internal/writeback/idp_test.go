package writeback_test

import (
	"context"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/connectedbbq/platform/pkg/keycloak"
	"github.com/connectedbbq/platform/services/user-service/internal/store"
	"github.com/connectedbbq/platform/testing/kctest"
)

// Against the real Keycloak, a tenant's own identity provider (a second realm as the company's IdP): the
// Tenant resource's path (PutTenant) with emailDomains corp.example and identityProvider corp links the
// provider to the tenant's organization and gives it the domain; a person of corp.example signs in through
// the provider's button with the link in place; another alias replaces the link, an empty one removes it,
// doing the jobs again writes nothing, and an alias Keycloak does not know fails for good.
func TestATenantsIdentityProviderIsLinkedToItsOrganization(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const email, pw = "cat@corp.example", "Corp-Passw0rd-2026!"
	p := kctest.NewProviderRealm(t, e.realm, kctest.BrokerOptions{TrustEmail: true})
	p.AddUser(t, email, "Cat", "Corp", pw)
	e.identityProvider(t, "corp-new") // the company's next SSO: linked, never signed in through here
	reg := prometheus.NewRegistry()
	w := e.orgWriter(t, reg)

	put := func(idp string, domains ...string) {
		t.Helper()
		if _, err := e.db.PutTenant(ctx, store.Tenant{ID: "corp", DisplayName: "Corp Inc", EmailDomains: domains, IdentityProvider: idp}); err != nil {
			t.Fatal(err)
		}
		drain(t, e.db, w)
	}
	put("corp", "corp.example")
	e.wantOrganization(t, "corp", []string{"corp.example"}, []string{"corp"})

	_, tok := p.SignIn(t, email, pw)
	if tok == nil {
		t.Fatal("Cat's sign-in through the provider's button gave no token")
	}
	cat := tok.Subject()
	{ // PROBE
		org, _ := e.kc.OrganizationByAlias(ctx, "corp")
		var m map[string]any
		err := kc.AdminRequest(ctx, "GET", "/admin/realms/"+e.realm.Name+"/organizations/"+org.ID+"/members/"+cat, nil, &m)
		t.Logf("PROBE member after broker sign-in: %v %v", m["membershipType"], err)
		err = e.kc.LinkOrganizationIdentityProvider(ctx, org.ID, "corp")
		t.Logf("PROBE link again: %v", err)
		err = e.kc.LinkOrganizationIdentityProvider(ctx, org.ID, "nope")
		t.Logf("PROBE link unknown: %v", err)
	}
	// The user service places Cat by the domain rule; her membership is mirrored like any other.
	e.sql(t, `INSERT INTO users (id, realm, email, name, email_verified, registered, status, tenant_id, role)
		VALUES ($1, $2, $3, 'Cat Corp', true, true, 'active', 'corp', 'member')`, cat, e.realm.Name, email)
	e.sql(t, `INSERT INTO memberships (tenant_id, user_id, role) VALUES ('corp', $1, 'member')`, cat)
	drain(t, e.db, w)
	if got := e.orgMembers(t, "corp"); !slices.Equal(got, []string{cat}) {
		t.Errorf("corp's members after Cat signed in: %v; want Cat", got)
	}

	// Doing every job again writes nothing.
	e.sql(t, `INSERT INTO keycloak_org_sync (tenant_id, user_id) SELECT tenant_id, user_id FROM memberships
		UNION ALL SELECT id, '' FROM tenants`)
	written := metric(t, reg, `bbq_users_keycloak_org_writes_total{outcome="written"}`)
	drain(t, e.db, w)
	if again := metric(t, reg, `bbq_users_keycloak_org_writes_total{outcome="written"}`) - written; again != 0 {
		t.Errorf("the repeated jobs wrote to Keycloak %v times; want 0", again)
	}

	// Another alias replaces the link, and the domains follow the tenant's; an empty one unlinks.
	put("corp-new", "corp.example", "corp-eu.example")
	e.wantOrganization(t, "corp", []string{"corp-eu.example", "corp.example"}, []string{"corp-new"})
	put("", "corp.example")
	e.wantOrganization(t, "corp", []string{"corp.example"}, nil)
	{ // PROBE
		org, _ := e.kc.OrganizationByAlias(ctx, "corp")
		var m map[string]any
		err := kc.AdminRequest(ctx, "GET", "/admin/realms/"+e.realm.Name+"/organizations/"+org.ID+"/members/"+cat, nil, &m)
		t.Logf("PROBE member after unlink: %v %v", m["membershipType"], err)
	}
	if tok, page := p.TrySignIn(t, email, pw); tok == nil {
		t.Errorf("Cat's sign-in through the provider after it was unlinked stopped at %q", snippet(page))
	}

	// An alias Keycloak does not know: the job is refused for good, and counted.
	if _, err := e.db.PutTenant(ctx, store.Tenant{ID: "corp", DisplayName: "Corp Inc", EmailDomains: []string{"corp.example"},
		IdentityProvider: "no-such-idp"}); err != nil {
		t.Fatal(err)
	}
	w.Round(ctx)
	if _, failed, err := e.db.OrgSyncCounts(ctx); err != nil || failed != 1 {
		t.Errorf("jobs failed for good after linking an unknown alias: %d (%v); want 1", failed, err)
	}
	if n := metric(t, reg, `bbq_users_org_sync_failures_total{reason="http_400"}`); n != 1 {
		t.Errorf("bbq_users_org_sync_failures_total{reason=http_400} = %v; want 1", n)
	}
	e.wantOrganization(t, "corp", []string{"corp.example"}, nil)
	{ // PROBE: relink, sign in again, then remove Cat from the tenant
		put2 := func() {
			if _, err := e.db.PutTenant(ctx, store.Tenant{ID: "corp", DisplayName: "Corp Inc", EmailDomains: []string{"corp.example"}, IdentityProvider: "corp"}); err != nil {
				t.Fatal(err)
			}
			drain(t, e.db, w)
		}
		put2()
		org, _ := e.kc.OrganizationByAlias(ctx, "corp")
		var m map[string]any
		err := kc.AdminRequest(ctx, "GET", "/admin/realms/"+e.realm.Name+"/organizations/"+org.ID+"/members/"+cat, nil, &m)
		t.Logf("PROBE member after relink: %v %v", m["membershipType"], err)
		e.sql(t, `DELETE FROM memberships WHERE user_id = $1`, cat)
		drain(t, e.db, w)
		var u map[string]any
		err = kc.AdminRequest(ctx, "GET", "/admin/realms/"+e.realm.Name+"/users/"+cat, nil, &u)
		t.Logf("PROBE user after removal: %v %v", u["username"], err)
	}
}

// identityProvider registers an OIDC identity provider in the test realm that nobody signs in through.
func (e *env) identityProvider(t *testing.T, alias string) {
	t.Helper()
	idp := map[string]any{"alias": alias, "providerId": "oidc", "enabled": true, "config": map[string]string{
		"clientId": "bbq", "clientSecret": "unused", "authorizationUrl": "http://127.0.0.1:9/auth",
		"tokenUrl": "http://127.0.0.1:9/token", "clientAuthMethod": "client_secret_post"}}
	if err := kc.AdminRequest(context.Background(), "POST", "/admin/realms/"+e.realm.Name+"/identity-provider/instances", idp, nil); err != nil {
		t.Fatal(err)
	}
}

// wantOrganization checks the organization's domains and linked identity providers (both sorted).
func (e *env) wantOrganization(t *testing.T, alias string, domains, idps []string) {
	t.Helper()
	ctx := context.Background()
	org, err := e.kc.OrganizationByAlias(ctx, alias)
	if err != nil {
		t.Fatalf("organization %s: %v", alias, err)
	}
	var got []string
	for _, d := range org.Domains {
		got = append(got, d.Name)
	}
	slices.Sort(got)
	if !slices.Equal(got, domains) {
		t.Errorf("organization %s's domains %v; want %v", alias, got, domains)
	}
	linked, err := e.kc.OrganizationIdentityProviders(ctx, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(linked)
	if !slices.Equal(linked, idps) {
		t.Errorf("organization %s's identity providers %v; want %v", alias, linked, idps)
	}
}

var _ = keycloak.ErrNotFound

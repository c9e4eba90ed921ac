package writeback_test

import (
	"context"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/connectedbbq/platform/services/user-service/internal/store"
	"github.com/connectedbbq/platform/testing/kctest"
)

// Against the real Keycloak, a tenant's own identity provider (a second realm as the company's IdP, its first
// login flow the realm's "bbq first broker login"): the Tenant resource's path (PutTenant) with emailDomains
// corp.example and identityProvider corp links the provider to the tenant's organization and gives it the
// domain; a person of corp.example signs in through the provider's button with the link in place and becomes
// an unmanaged member once the user service placed her; doing the jobs again writes nothing; another alias
// replaces the link and an empty one removes it; a domain moved to another tenant follows; an alias Keycloak
// does not know fails for good. A managed
// member (made by Keycloak's own "first broker login") is never removed, nor its organization deleted:
// Keycloak would delete the account.
func TestATenantsIdentityProviderIsLinkedToItsOrganization(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const pw = "Corp-Passw0rd-2026!"
	p := kctest.NewProviderRealm(t, e.realm, kctest.BrokerOptions{TrustEmail: true, FirstLoginFlow: "bbq first broker login"})
	p.AddUser(t, "cat@corp.example", "Cat", "Corp", pw)
	p.AddUser(t, "dan@corp.example", "Dan", "Corp", pw)
	e.identityProvider(t, "corp-new") // the company's next SSO: linked, never signed in through here
	reg := prometheus.NewRegistry()
	w := e.orgWriter(t, reg)
	put := func(idp string, domains ...string) {
		t.Helper()
		if _, err := e.db.PutTenant(ctx, store.Tenant{ID: "corp", DisplayName: "Corp Inc", EmailDomains: domains, IdentityProvider: idp}); err != nil {
			t.Fatal(err)
		}
	}
	put("corp", "corp.example")
	drain(t, e.db, w)
	e.wantOrganization(t, "corp", []string{"corp.example"}, []string{"corp"})

	_, tok := p.SignIn(t, "cat@corp.example", pw)
	if tok == nil {
		t.Fatal("Cat's sign-in through the provider's button gave no token")
	}
	cat := tok.Subject()
	e.join(t, cat, "cat@corp.example") // as the user service does by the domain rule
	drain(t, e.db, w)
	org := e.organization(t, "corp")
	if m, err := e.kc.OrganizationMember(ctx, org, cat); err != nil || m.Managed() {
		t.Errorf("Cat's membership of corp's organization: %+v (%v); want an unmanaged member", m, err)
	}
	if tok, page := p.TrySignIn(t, "cat@corp.example", pw); tok == nil {
		t.Errorf("Cat's second sign-in through the provider stopped at %q", snippet(page))
	}

	// Doing every job again writes nothing (and so does removing someone who is no member).
	e.sql(t, `INSERT INTO keycloak_org_sync (tenant_id, user_id) SELECT tenant_id, user_id FROM memberships
		UNION ALL SELECT id, '' FROM tenants UNION ALL SELECT 'corp', $1`, e.kcUser(t, "eve@corp.example", "Eve"))
	written := metric(t, reg, `bbq_users_keycloak_org_writes_total{outcome="written"}`)
	drain(t, e.db, w)
	if again := metric(t, reg, `bbq_users_keycloak_org_writes_total{outcome="written"}`) - written; again != 0 {
		t.Errorf("the repeated jobs wrote to Keycloak %v times; want 0", again)
	}

	// Another alias replaces the link and the domains follow the tenant's; an empty one unlinks.
	put("corp-new", "corp.example", "corp-eu.example")
	drain(t, e.db, w)
	e.wantOrganization(t, "corp", []string{"corp-eu.example", "corp.example"}, []string{"corp-new"})
	// corp-eu.example moves to another tenant, whose job runs first: Keycloak's 400 (the domain is still
	// corp's organization's) is retried, not refused, until corp's job lets it go.
	put("", "corp.example")
	if _, err := e.db.PutTenant(ctx, store.Tenant{ID: "corp-eu", DisplayName: "Corp EU", EmailDomains: []string{"corp-eu.example"}}); err != nil {
		t.Fatal(err)
	}
	e.sql(t, `UPDATE keycloak_org_sync SET next_attempt_at = now() + interval '1 second' WHERE tenant_id = 'corp'`)
	w.Round(ctx) // corp-eu's job only
	drain(t, e.db, w)
	e.wantOrganization(t, "corp", []string{"corp.example"}, nil)
	e.wantOrganization(t, "corp-eu", []string{"corp-eu.example"}, nil)
	if n := metric(t, reg, `bbq_users_keycloak_org_writes_total{outcome="retry"}`); n < 1 {
		t.Errorf("retried organization writes: %v; want the moved domain's conflict retried", n)
	}

	// An alias Keycloak does not know: the job is refused for good (Keycloak's 400), and counted.
	put("no-such-idp", "corp.example")
	w.Round(ctx)
	if _, failed, err := e.db.OrgSyncCounts(ctx); err != nil || failed != 1 {
		t.Errorf("jobs failed for good after linking an unknown alias: %d (%v); want 1", failed, err)
	}
	if n := metric(t, reg, `bbq_users_org_sync_failures_total{reason="http_400"}`); n != 1 {
		t.Errorf(`bbq_users_org_sync_failures_total{reason="http_400"} = %v; want 1`, n)
	}
	put("corp", "corp.example") // a new request revives the job
	drain(t, e.db, w)
	e.wantOrganization(t, "corp", []string{"corp.example"}, []string{"corp"})

	// Keycloak's own first broker login makes Dan a managed member; his removal is refused, not mirrored.
	if managed, err := e.kc.HasManagedMembers(ctx, org); err != nil || managed {
		t.Errorf("HasManagedMembers with Cat, unmanaged: %v (%v); want false", managed, err)
	}
	e.setIdentityProvider(t, p.Alias, "firstBrokerLoginFlowAlias", "first broker login")
	if _, tok := p.SignIn(t, "dan@corp.example", pw); tok == nil {
		t.Fatal("Dan's sign-in through the provider gave no token")
	} else {
		dan := tok.Subject()
		if m, err := e.kc.OrganizationMember(ctx, org, dan); err != nil || !m.Managed() {
			t.Fatalf("Dan after Keycloak's first broker login: %+v (%v); want a managed member", m, err)
		}
		e.join(t, dan, "dan@corp.example")
		drain(t, e.db, w)
		e.sql(t, `DELETE FROM memberships WHERE user_id = $1`, dan)
		w.Round(ctx)
		if n := metric(t, reg, `bbq_users_org_sync_failures_total{reason="managed_member"}`); n != 1 {
			t.Errorf(`bbq_users_org_sync_failures_total{reason="managed_member"} = %v; want 1`, n)
		}
		if _, err := e.kc.GetUser(ctx, dan); err != nil {
			t.Errorf("Dan's account after his removal from the tenant: %v; want it kept", err)
		}
	}
	if managed, err := e.kc.HasManagedMembers(ctx, org); err != nil || !managed {
		t.Errorf("HasManagedMembers: %v (%v); want true", managed, err)
	}

	// Nor is the organization deleted with the tenant while it has a managed member.
	e.sql(t, `DELETE FROM memberships WHERE tenant_id = 'corp'`)
	e.sql(t, `DELETE FROM users WHERE tenant_id = 'corp'`)
	e.sql(t, `DELETE FROM tenants WHERE id = 'corp'`)
	w.Round(ctx)
	if n := metric(t, reg, `bbq_users_org_sync_failures_total{reason="managed_member"}`); n != 2 {
		t.Errorf(`bbq_users_org_sync_failures_total{reason="managed_member"} after deleting the tenant = %v; want 2`, n)
	}
	if _, err := e.kc.OrganizationByAlias(ctx, "corp"); err != nil {
		t.Errorf("corp's organization, with a managed member, after the tenant was deleted: %v; want it kept", err)
	}
}

// join makes an active user of the test realm a member of corp, as the domain rule does at confirmation.
func (e *env) join(t *testing.T, id, email string) {
	t.Helper()
	e.sql(t, `INSERT INTO users (id, realm, email, name, email_verified, registered, status, tenant_id, role)
		VALUES ($1, $2, $3, $3, true, true, 'active', 'corp', 'member')`, id, e.realm.Name, email)
	e.sql(t, `INSERT INTO memberships (tenant_id, user_id, role) VALUES ('corp', $1, 'member')`, id)
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

// setIdentityProvider sets one field of an identity provider's representation, e.g. a flow.
func (e *env) setIdentityProvider(t *testing.T, alias, field, value string) {
	t.Helper()
	ctx := context.Background()
	path := "/admin/realms/" + e.realm.Name + "/identity-provider/instances/" + alias
	var idp map[string]any
	if err := kc.AdminRequest(ctx, "GET", path, nil, &idp); err != nil {
		t.Fatal(err)
	}
	idp[field] = value
	if err := kc.AdminRequest(ctx, "PUT", path, idp, nil); err != nil {
		t.Fatal(err)
	}
}

func (e *env) organization(t *testing.T, alias string) string {
	t.Helper()
	org, err := e.kc.OrganizationByAlias(context.Background(), alias)
	if err != nil {
		t.Fatalf("organization %s: %v", alias, err)
	}
	return org.ID
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

package keycloak

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/connectedbbq/platform/pkg/events"
	"github.com/connectedbbq/platform/test/internal/pipelinetest"
	"github.com/connectedbbq/platform/testing/kctest"
)

const adminToken = "kce2e-admin-token-0123456789"

// People sign in through a second realm registered as an OIDC identity provider (real Keycloak on both
// sides): through one that Keycloak trusts for emails (no verification mail) and one it does not (Keycloak
// mails a verification link, followed here). Each becomes active exactly once, with the provider's name and
// email, in the declared tenant of their domain (its listed admin as admin) or a personal one. The tenant
// names the trusted one as its own identity provider: it is linked to the tenant's organization, and the
// people of the company who sign in through it are (unmanaged) members of the organization.
func TestSignInThroughAnIdentityProviderActivatesOnce(t *testing.T) {
	e := newEnv(t, options{webhook: true})
	trusted := kctest.NewProviderRealm(t, e.realm, kctest.BrokerOptions{Alias: "corp", TrustEmail: true, FirstLoginFlow: "bbq first broker login"})
	untrusted := kctest.NewProviderRealm(t, e.realm, kctest.BrokerOptions{Alias: "partner", TrustEmail: false})
	e.declareTenant("corp", `{"displayName":"Corp","emailDomains":["corp.example"],"admins":["boss@corp.example"],"suspended":false,
		"identityProvider":"corp"}`)
	people := []struct {
		via                    *kctest.ProviderRealm
		email, first, last     string
		wantTenant, wantRole   string // wantTenant "" = a personal tenant
		wantVerificationNeeded bool
	}{
		{trusted, "alice@corp.example", "Alice", "Corp", "corp", "member", false},
		{trusted, "carol@elsewhere.example", "Carol", "Else", "", "admin", false},
		{untrusted, "boss@corp.example", "Bea", "Boss", "corp", "admin", true},
		{untrusted, "dan@partner.example", "Dan", "Partner", "", "admin", true},
	}
	ids := map[string]string{}
	for _, p := range people {
		p.via.AddUser(t, p.email, p.first, p.last, password)
		s, tok := p.via.SignIn(t, p.email, password)
		if (tok == nil) != p.wantVerificationNeeded {
			t.Fatalf("%s through %s: verification asked = %v, want %v", p.email, p.via.Alias, tok == nil, p.wantVerificationNeeded)
		}
		if tok == nil {
			got := s.FollowVerification(t)
			tok = &got
		}
		ids[p.email] = tok.Subject()
	}
	type row struct {
		email, name, status, tenant, role string
		verified                          bool
	}
	rows := map[string]row{}
	read := func() bool {
		for _, p := range people {
			var r row
			_ = e.db.QueryRow(context.Background(), `SELECT email, name, status, email_verified, coalesce(tenant_id, ''),
				coalesce(role, '') FROM users WHERE id = $1`, ids[p.email]).Scan(&r.email, &r.name, &r.status, &r.verified, &r.tenant, &r.role)
			rows[p.email] = r
		}
		for _, r := range rows {
			if r.status != "active" {
				return false
			}
		}
		return true
	}
	waitFor(30*time.Second, read)
	for _, p := range people {
		r := rows[p.email]
		if r.status != "active" || r.email != p.email || r.name != p.first+" "+p.last || !r.verified {
			t.Errorf("%s through %s: row %+v, want active, %q, %q, verified", p.email, p.via.Alias, r, p.email, p.first+" "+p.last)
			continue
		}
		if p.wantTenant != "" && r.tenant != p.wantTenant || p.wantTenant == "" && r.tenant == "corp" {
			t.Errorf("%s: tenant %q, want %q (\"\" = a personal one)", p.email, r.tenant, p.wantTenant)
		}
		if r.role != p.wantRole {
			t.Errorf("%s: role %q, want %q", p.email, r.role, p.wantRole)
		}
	}
	time.Sleep(2 * time.Second) // late duplicates would show now
	created := e.count(events.UserCreated.Subject)
	for _, p := range people {
		if n := created[ids[p.email]]; n != 1 {
			t.Errorf("%s: %d UserCreated, want 1", p.email, n)
		}
	}
	e.wantCorpOrganization(ids["alice@corp.example"], ids["boss@corp.example"])
}

// wantCorpOrganization waits for corp's organization to have the provider corp linked and these people as
// members, none of them managed.
func (e *env) wantCorpOrganization(members ...string) {
	e.t.Helper()
	ctx := context.Background()
	kc := e.realm.Admin(e.t)
	var state string
	ok := waitFor(30*time.Second, func() bool {
		org, err := kc.OrganizationByAlias(ctx, "corp")
		if err != nil {
			state = err.Error()
			return false
		}
		linked, err := kc.OrganizationIdentityProviders(ctx, org.ID)
		state = fmt.Sprintf("linked %v (%v)", linked, err)
		if err != nil || !slices.Equal(linked, []string{"corp"}) {
			return false
		}
		for _, id := range members {
			m, err := kc.OrganizationMember(ctx, org.ID, id)
			state = fmt.Sprintf("member %s: %+v (%v)", id, m, err)
			if err != nil || m.Managed() {
				return false
			}
		}
		return true
	})
	if !ok {
		e.t.Errorf("corp's organization: %s; want the provider corp linked and %v unmanaged members", state, members)
	}
}

// waitFor polls cond until it holds or the timeout passes, and says which.
func waitFor(timeout time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// declareTenant declares a tenant through the admin API, as the Kubernetes controller does.
func (e *env) declareTenant(id, body string) {
	e.t.Helper()
	if status, answer := pipelinetest.Call(e.t, e.p.AdminURL, http.MethodPut, "/admin/v1/tenants/"+id, adminToken, body); status/100 != 2 {
		e.t.Fatalf("declare tenant %s: HTTP %d %v", id, status, answer)
	}
}

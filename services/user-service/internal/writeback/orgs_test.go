package writeback_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/connectedbbq/platform/pkg/keycloak"
	"github.com/connectedbbq/platform/services/user-service/internal/store"
	"github.com/connectedbbq/platform/services/user-service/internal/writeback"
	"github.com/connectedbbq/platform/testing/kctest"
)

func (e *env) orgWriter(t *testing.T, reg prometheus.Registerer) *writeback.OrgWriter {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return writeback.NewOrgWriter(writeback.Config{Interval: time.Second, Batch: 50, Lease: time.Minute}, e.db, e.kc, log, reg)
}

// drain runs rounds until no job is left (a membership whose organization is not there yet waits a second).
func drain(t *testing.T, db *store.Store, w *writeback.OrgWriter) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		w.Round(ctx)
		pending, failed, err := db.OrgSyncCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if failed > 0 {
			t.Fatalf("%d organization jobs refused by Keycloak", failed)
		}
		if pending == 0 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("organization jobs still pending after 30s")
}

func (e *env) orgMembers(t *testing.T, alias string) []string {
	t.Helper()
	ctx := context.Background()
	org, err := e.kc.OrganizationByAlias(ctx, alias)
	if err != nil {
		t.Fatalf("organization %s: %v", alias, err)
	}
	users, err := e.kc.OrganizationMembers(ctx, org.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, u := range users {
		ids = append(ids, u.ID)
	}
	slices.Sort(ids)
	return ids
}

// Against the real Keycloak: every tenant is an organization (alias = tenant id) with its members, renamed,
// disabled while suspended and deleted with the tenant; the token names the person's organizations; a person
// whose tenants are all suspended cannot sign in (password grant and login page, with the tenant's name), and
// can again once the suspension is lifted; someone with another tenant still signs in.
func TestOrganizationsMirrorTenantsAndSuspensionRefusesSignIn(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const pw = "Gr1ll-Master-2026!"
	ada, adaTok := e.realm.ConfirmedUser(t, "ada@example.com", pw, "Ada Org")
	bea, beaTok := e.realm.ConfirmedUser(t, "bea@example.com", pw, "Bea Org")
	// Ada belongs to acme only; Bea to acme, team and her personal tenant, which is her default. team has the
	// name acme will be renamed to: organization names are unique in Keycloak.
	e.sql(t, `INSERT INTO tenants (id, display_name, kind) VALUES ('acme', 'Acme Grills', 'declared'), ('bea-home', 'Bea', 'personal'),
		('team', 'Acme BBQ', 'personal')`)
	e.sql(t, `INSERT INTO users (id, realm, email, name, email_verified, registered, status, tenant_id, role)
		VALUES ($1, $3, 'ada@example.com', 'Ada Org', true, true, 'active', 'acme', 'admin'),
			($2, $3, 'bea@example.com', 'Bea Org', true, true, 'active', 'bea-home', 'admin')`, ada, bea, e.realm.Name)
	e.sql(t, `INSERT INTO memberships (tenant_id, user_id, role) VALUES ('acme', $1, 'admin'), ('acme', $2, 'member'), ('bea-home', $2, 'admin'),
		('team', $2, 'admin')`, ada, bea)
	e.requestSync(t, ada)
	e.requestSync(t, bea)
	users := e.writer(t, e.db, e.kc, prometheus.NewRegistry())
	for users.Round(ctx) > 0 {
	}
	reg := prometheus.NewRegistry()
	w := e.orgWriter(t, reg)
	drain(t, e.db, w)

	org, err := e.kc.OrganizationByAlias(ctx, "acme")
	if err != nil || org.Name != "Acme Grills" || !org.Enabled {
		t.Fatalf("acme's organization: %+v (%v); want enabled, named Acme Grills", org, err)
	}
	if got, want := e.orgMembers(t, "acme"), sorted(ada, bea); !slices.Equal(got, want) {
		t.Errorf("acme's members %v; want %v", got, want)
	}
	if got := e.orgMembers(t, "bea-home"); !slices.Equal(got, []string{bea}) {
		t.Errorf("bea-home's members %v; want Bea", got)
	}
	if c, _ := e.realm.Refresh(t, adaTok).Claims(); c["organization"] != nil {
		t.Errorf("Ada's dashboard token: organization claim %v; want none (the dashboard does not ask for it)", c["organization"])
	}
	scoped, page := e.realm.TryLoginWithScopes(t, "ada@example.com", pw, "organization")
	if scoped == nil {
		t.Fatalf("Ada's sign-in asking for the organization scope: %s", snippet(page))
	}
	c, err := scoped.Claims()
	if err != nil {
		t.Fatal(err)
	}
	if !claimHas(c["organization"], "acme") {
		t.Errorf("Ada's token with the organization scope: organization claim %v; want it to name acme", c["organization"])
	}

	// Doing every job again changes nothing in Keycloak, and two writers never take the same job.
	e.sql(t, `INSERT INTO keycloak_org_sync (tenant_id, user_id) SELECT tenant_id, user_id FROM memberships
		UNION ALL SELECT id, '' FROM tenants`)
	written := metric(t, reg, `bbq_users_keycloak_org_writes_total{outcome="written"}`)
	reg2 := prometheus.NewRegistry()
	w2 := e.orgWriter(t, reg2)
	var wg sync.WaitGroup
	var n1, n2 int
	wg.Add(2)
	go func() { defer wg.Done(); n1 = w.Round(ctx) }()
	go func() { defer wg.Done(); n2 = w2.Round(ctx) }()
	wg.Wait()
	if n1+n2 != 7 {
		t.Errorf("two writers claimed %d+%d jobs; want 7 in all", n1, n2)
	}
	if again := metric(t, reg, `bbq_users_keycloak_org_writes_total{outcome="written"}`) - written +
		max(0, metric(t, reg2, `bbq_users_keycloak_org_writes_total{outcome="written"}`)); again != 0 {
		t.Errorf("the repeated jobs wrote to Keycloak %v times; want 0", again)
	}

	// Rename, then suspend: the organization follows; Ada (only acme) is refused, Bea is not.
	// (as the Tenant resource's controller does, through the admin API)
	if _, err := e.db.PutTenant(ctx, store.Tenant{ID: "acme", DisplayName: "Acme BBQ", Suspended: true}); err != nil {
		t.Fatal(err)
	}
	drain(t, e.db, w)
	if org, err := e.kc.OrganizationByAlias(ctx, "acme"); err != nil || org.Name != "Acme BBQ (acme)" || org.Description != "Acme BBQ" || org.Enabled {
		t.Fatalf("suspended acme's organization: %+v (%v); want disabled, named Acme BBQ (acme) (the name is team's), described Acme BBQ", org, err)
	}
	if _, err := e.realm.TryPasswordToken("ada@example.com", pw); err == nil || !strings.Contains(err.Error(), "tenant_suspended") {
		t.Errorf("Ada's password grant in a suspended tenant: %v; want refused with tenant_suspended", err)
	}
	if tok, page := e.realm.TryLogin(t, "ada@example.com", pw); tok != nil || !strings.Contains(page, "Acme BBQ is suspended") {
		t.Errorf("Ada's login page in a suspended tenant: token %v, page %q; want the refusal naming Acme BBQ", tok != nil, snippet(page))
	}
	if _, err := e.realm.TryPasswordToken("bea@example.com", pw); err != nil {
		t.Errorf("Bea, with another tenant, is refused: %v", err)
	}
	if tok, _ := e.realm.TryLogin(t, "bea@example.com", pw); tok == nil {
		t.Error("Bea, with another tenant, cannot sign in through the login page")
	}
	// Sessions open at the time: Ada's ended (her refresh is refused), Bea's goes on.
	if _, err := e.realm.TryRefresh(adaTok); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("Ada's dashboard session after her only tenant was suspended: refresh %v; want invalid_grant", err)
	}
	if _, err := e.realm.TryRefresh(beaTok); err != nil {
		t.Errorf("Bea's dashboard session after one of her tenants was suspended: %v; want it refreshed", err)
	}

	// Lifting the suspension restores the sign-in.
	if _, err := e.db.PutTenant(ctx, store.Tenant{ID: "acme", DisplayName: "Acme BBQ"}); err != nil {
		t.Fatal(err)
	}
	drain(t, e.db, w)
	if _, err := e.realm.TryPasswordToken("ada@example.com", pw); err != nil {
		t.Errorf("Ada after the suspension was lifted: %v", err)
	}
	if tok, page := e.realm.TryLogin(t, "ada@example.com", pw); tok == nil {
		t.Errorf("Ada cannot sign in through the login page after the suspension was lifted: %q", snippet(page))
	}

	// Removing Bea ends her membership; deleting a tenant deletes its organization.
	if err := e.db.RemoveMember(ctx, store.Caller{UserID: ada, TenantID: "acme"}, bea); err != nil {
		t.Fatal(err)
	}
	drain(t, e.db, w)
	if got := e.orgMembers(t, "acme"); !slices.Equal(got, []string{ada}) {
		t.Errorf("acme's members after Bea's removal %v; want Ada only", got)
	}
	if got := e.orgMembers(t, "team"); !slices.Equal(got, []string{bea}) {
		t.Errorf("team's members %v; want Bea", got)
	}
	if err := e.db.DeleteMyTenant(ctx, store.Caller{UserID: bea, TenantID: "team"}); err != nil {
		t.Fatal(err)
	}
	drain(t, e.db, w)
	if _, err := e.kc.OrganizationByAlias(ctx, "team"); !errors.Is(err, keycloak.ErrNotFound) {
		t.Errorf("team's organization after the tenant was deleted: %v; want not found", err)
	}
}

// The journey's person A signs in to their personal tenant, shares it, and leaves it. A dashboard session
// goes on: it does not ask for the organization scope, to which Keycloak binds a session (the organization
// chosen at sign-in) and whose refresh it refuses once the person is no longer a member ("Invalid
// organization"). A client that asks for the scope gets that binding: shown here too.
func TestADashboardSessionOutlivesLeavingTheTenantItSignedInTo(t *testing.T) {
	e := newEnv(t)
	const pw = "Gr1ll-Master-2026!"
	ada, _ := e.realm.ConfirmedUser(t, "ada@example.com", pw, "Ada Org")
	e.sql(t, `INSERT INTO tenants (id, display_name, kind) VALUES ('ada-home', 'Ada', 'personal'), ('team', 'Team', 'declared')`)
	e.sql(t, `INSERT INTO users (id, realm, email, name, email_verified, registered, status, tenant_id, role)
		VALUES ($1, $2, 'ada@example.com', 'Ada Org', true, true, 'active', 'ada-home', 'admin')`, ada, e.realm.Name)
	e.sql(t, `INSERT INTO memberships (tenant_id, user_id, role) VALUES ('ada-home', $1, 'admin')`, ada)
	w := e.orgWriter(t, prometheus.NewRegistry())
	drain(t, e.db, w)

	dashboard, page := e.realm.TryLogin(t, "ada@example.com", pw)
	if dashboard == nil {
		t.Fatalf("Ada's sign-in: %s", snippet(page))
	}
	scoped, page := e.realm.TryLoginWithScopes(t, "ada@example.com", pw, "organization")
	if scoped == nil {
		t.Fatalf("Ada's sign-in asking for the organization scope: %s", snippet(page))
	}
	// Ada joins team and leaves the tenant she signed in to; her default moves to team (the triggers queue
	// the organization jobs, as for the API's leave).
	e.sql(t, `INSERT INTO memberships (tenant_id, user_id, role) VALUES ('team', $1, 'member')`, ada)
	e.sql(t, `UPDATE users SET tenant_id = 'team', role = 'member' WHERE id = $1`, ada)
	e.sql(t, `DELETE FROM memberships WHERE tenant_id = 'ada-home' AND user_id = $1`, ada)
	drain(t, e.db, w)
	if got := e.orgMembers(t, "ada-home"); len(got) != 0 {
		t.Fatalf("ada-home's members after Ada left: %v; want none", got)
	}

	if _, err := e.realm.TryRefresh(*dashboard); err != nil {
		t.Errorf("Ada's dashboard session after she left the tenant she signed in to: %v; want it refreshed", err)
	}
	if _, err := e.realm.TryRefresh(*scoped); err == nil || !strings.Contains(err.Error(), "Invalid organization") {
		t.Errorf("Ada's organization-scoped session after she left its organization: %v; want Keycloak's Invalid organization", err)
	}
}

func sorted(ids ...string) []string {
	slices.Sort(ids)
	return ids
}

// claimHas reports whether an organization claim (a list of aliases, or an object keyed by alias) names alias.
func claimHas(claim any, alias string) bool {
	switch c := claim.(type) {
	case []any:
		return slices.Contains(c, any(alias))
	case map[string]any:
		_, ok := c[alias]
		return ok
	case string:
		return c == alias
	}
	return false
}

func snippet(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return s[:min(len(s), 600)]
}

// A sign-in through an identity provider leaves the browser flow; the realm's `bbq post broker login` flow,
// set as the provider's post login flow, refuses it the same way while the person's only tenant is suspended.
func TestSuspendedTenantRefusesSignInThroughAnIdentityProvider(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const email, pw = "cat@corp.example", "Corp-Passw0rd-2026!"
	p := kctest.NewProviderRealm(t, e.realm, kctest.BrokerOptions{TrustEmail: true})
	p.AddUser(t, email, "Cat", "Corp", pw)
	e.setIdentityProvider(t, p.Alias, "postBrokerLoginFlowAlias", "bbq post broker login")
	_, tok := p.SignIn(t, email, pw)
	if tok == nil {
		t.Fatal("the first sign-in through the provider gave no token")
	}
	cat := tok.Subject()
	for _, q := range []string{
		`INSERT INTO tenants (id, display_name, kind) VALUES ('corp', 'Corp Inc', 'declared')`,
		`INSERT INTO users (id, realm, email, name, email_verified, registered, status, tenant_id, role)
			VALUES ($1, $2, 'cat@corp.example', 'Cat Corp', true, true, 'active', 'corp', 'member')`,
		`INSERT INTO memberships (tenant_id, user_id, role) VALUES ('corp', $1, 'member')`,
	} {
		e.sql(t, q, []any{cat, e.realm.Name}[:strings.Count(q, "$")]...)
	}
	e.requestSync(t, cat)
	for e.writer(t, e.db, e.kc, prometheus.NewRegistry()).Round(ctx) > 0 {
	}
	w := e.orgWriter(t, prometheus.NewRegistry())
	if _, err := e.db.PutTenant(ctx, store.Tenant{ID: "corp", DisplayName: "Corp Inc", Suspended: true}); err != nil {
		t.Fatal(err)
	}
	drain(t, e.db, w)
	if tok, page := p.TrySignIn(t, email, pw); tok != nil || !strings.Contains(page, "Corp Inc is suspended") {
		t.Errorf("sign-in through the provider into a suspended tenant: token %v, page %q; want the refusal", tok != nil, snippet(page))
	}
	if _, err := e.db.PutTenant(ctx, store.Tenant{ID: "corp", DisplayName: "Corp Inc"}); err != nil {
		t.Fatal(err)
	}
	drain(t, e.db, w)
	if tok, page := p.TrySignIn(t, email, pw); tok == nil {
		t.Errorf("sign-in through the provider after the suspension was lifted stopped at %q", snippet(page))
	}
}

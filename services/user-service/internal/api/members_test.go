package api_test

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/connectedbbq/platform/pkg/events"
	eventsv1 "github.com/connectedbbq/platform/pkg/gen/bbq/events/v1"
	"github.com/connectedbbq/platform/services/user-service/internal/api"
	"github.com/connectedbbq/platform/services/user-service/internal/domain"
	"github.com/connectedbbq/platform/services/user-service/internal/store"
	"github.com/connectedbbq/platform/services/user-service/internal/store/storetest"
	"github.com/connectedbbq/platform/testing/oidctest"
	"github.com/connectedbbq/platform/testing/pgtest"
)

var srv *pgtest.Server

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &srv)) }

// env is the API in process on its own database, with a test issuer.
type env struct {
	t      *testing.T
	s      *store.Store
	db     *pgxpool.Pool // as the service (bbq_service): fixtures and the outbox
	api    *pgxpool.Pool // as the API's login role (a member of bbq_api only)
	issuer *oidctest.Issuer
	url    string
}

func newEnv(t *testing.T) *env {
	dbs := storetest.Databases(t, srv)
	s := storetest.OpenDatabases(t, dbs)
	apiPool, err := pgxpool.New(context.Background(), dbs.API)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(apiPool.Close)
	iss := oidctest.New(t)
	auth := api.NewAuthenticator(api.OIDCConfig{Issuer: iss.URL, Audience: "user-service", Algorithms: []string{"RS256"}}, http.DefaultClient)
	mux := http.NewServeMux()
	api.New(auth, s, slog.New(slog.NewTextHandler(io.Discard, nil))).Mount(mux)
	h := httptest.NewServer(mux)
	t.Cleanup(h.Close)
	return &env{t: t, s: s, db: s.Pool(), api: apiPool, issuer: iss, url: h.URL}
}

func (e *env) apply(k events.Kind, id, user string, data proto.Message) {
	e.t.Helper()
	ev, err := events.New(k, events.Meta{ID: id, Source: events.IdPSource("bbq"), Subject: user, Time: time.Now()}, data)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.s.Apply(context.Background(), events.Decoded{Event: ev, Kind: k, Data: data}); err != nil {
		e.t.Fatal(err)
	}
}

// activate signs user up with email and confirms it; it returns the user's tenant.
func (e *env) activate(user, email string) string {
	e.t.Helper()
	e.apply(events.UserRegistered, "reg-"+user, user, &eventsv1.UserRegistered{UserId: user, Email: email, Name: user, Realm: "bbq"})
	e.apply(events.UserEmailVerified, "ver-"+user, user, &eventsv1.UserEmailVerified{UserId: user, Realm: "bbq"})
	var tenant string
	if err := e.db.QueryRow(context.Background(), `SELECT tenant_id FROM users WHERE id = $1 AND status = 'active'`, user).Scan(&tenant); err != nil {
		e.t.Fatal(err)
	}
	return tenant
}

// join adds a membership directly (until invitations exist, nothing else adds a second one).
func (e *env) join(tenant, user, role string) {
	e.t.Helper()
	if _, err := e.db.Exec(context.Background(), `INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, $3)`, tenant, user, role); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) token(user, tenant string) string {
	return e.issuer.Token(e.t, e.issuer.Defaults(user, tenant))
}

// call sends a request; header is X-Tenant-ID when not empty.
func (e *env) call(method, path, token, tenantHeader, body string) (int, map[string]any) {
	e.t.Helper()
	status, out, _ := e.do(method, path, token, tenantHeader, body)
	return status, out
}

// outbox counts the outbox's events by subject.
func (e *env) outbox() map[string]int {
	e.t.Helper()
	rows, err := e.db.Query(context.Background(), `SELECT subject, count(*) FROM outbox GROUP BY subject`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			e.t.Fatal(err)
		}
		out[s] = n
	}
	return out
}

// announced is what the outbox gained since before, by subject.
func (e *env) announced(before map[string]int) map[string]int {
	diff := map[string]int{}
	for s, n := range e.outbox() {
		if d := n - before[s]; d != 0 {
			diff[s] = d
		}
	}
	return diff
}

func ids(page map[string]any, list, key string) []string {
	var out []string
	items, _ := page[list].([]any)
	for _, it := range items {
		m, _ := it.(map[string]any)
		s, _ := m[key].(string)
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// shared is a declared tenant with an admin (ann) and two members (bob, cat); dan has a personal tenant, of
// which bob is a member too.
func sharedTenant(t *testing.T) (e *env, personalDan string) {
	e = newEnv(t)
	if _, err := e.s.PutTenant(context.Background(), store.Tenant{ID: "shared", DisplayName: "Shared", EmailDomains: []string{"shared.example"},
		Admins: []string{"ann@shared.example"}}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"ann", "bob", "cat"} {
		if got := e.activate(u, u+"@shared.example"); got != "shared" {
			t.Fatalf("%s placed in %s", u, got)
		}
	}
	personalDan = e.activate("dan", "dan@solo.example")
	e.join(personalDan, "bob", "member")
	return e, personalDan
}

// Row-level security across memberships: a member of two tenants sees only the active one's members, by
// the API and in the database itself (a caller naming a tenant they are not in sees nothing).
func TestMembersOfTheActiveTenantOnly(t *testing.T) {
	e, dans := sharedTenant(t)
	bob := e.token("bob", "shared")
	for _, tc := range []struct {
		name, header string
		want         []string
	}{
		{"token's tenant", "", []string{"ann", "bob", "cat"}},
		{"X-Tenant-ID", dans, []string{"bob", "dan"}},
	} {
		status, page := e.call("GET", "/v1/tenant/members", bob, tc.header, "")
		if got := ids(page, "members", "userId"); status != 200 || !slices.Equal(got, tc.want) {
			t.Errorf("%s: %d %v, want %v", tc.name, status, got, tc.want)
		}
	}
	status, page := e.call("GET", "/v1/me/tenants", bob, dans, "")
	if got := ids(page, "tenants", "id"); status != 200 || !slices.Equal(got, slices.Sorted(slices.Values([]string{"shared", dans}))) {
		t.Errorf("my tenants: %d %v", status, page)
	}
	// Below the API: the database refuses the active tenant of a caller who is not in it.
	ms, _, err := e.s.Members(context.Background(), store.Caller{UserID: "cat", TenantID: dans}, 10, nil)
	if err != nil || len(ms) != 0 {
		t.Errorf("cat naming dan's tenant read %v (%v); want nothing", ms, err)
	}
	ms, _, err = e.s.Members(context.Background(), store.Caller{UserID: "bob", TenantID: dans}, 10, nil)
	if err != nil || len(ms) != 2 {
		t.Errorf("bob in dan's tenant read %d members (%v); want 2", len(ms), err)
	}
}

// Every refused action: its status and message, and no event.
func TestRefusedMemberActions(t *testing.T) {
	e, dans := sharedTenant(t)
	ann, cat := e.token("ann", "shared"), e.token("cat", "shared")
	before := e.outbox()
	for _, tc := range []struct {
		name, method, path, token, header, body string
		status                                  int
		detail                                  string
	}{
		{"member changes a role", "PATCH", "/v1/tenant/members/bob", cat, "", `{"role":"admin"}`, 403, "only the tenant's admins"},
		{"member removes", "DELETE", "/v1/tenant/members/bob", cat, "", "", 403, "only the tenant's admins"},
		{"last admin demotes themself", "PATCH", "/v1/tenant/members/ann", ann, "", `{"role":"member"}`, 409, "last admin"},
		{"last admin leaves", "POST", "/v1/tenant/leave", ann, "", "", 409, "last admin"},
		{"last admin removes themself", "DELETE", "/v1/tenant/members/ann", ann, "", "", 409, "last admin"},
		{"role of a stranger", "PATCH", "/v1/tenant/members/dan", ann, "", `{"role":"admin"}`, 404, "no such member"},
		{"remove a stranger", "DELETE", "/v1/tenant/members/nobody", ann, "", "", 404, "no such member"},
		{"unknown role", "PATCH", "/v1/tenant/members/bob", ann, "", `{"role":"owner"}`, 422, "no such role"},
		{"no role", "PATCH", "/v1/tenant/members/bob", ann, "", `{}`, 422, `"role" is required`},
		{"unknown field", "PATCH", "/v1/tenant/members/bob", ann, "", `{"role":"admin","x":1}`, 400, "unknown field"},
		{"a tenant one is not in (header)", "GET", "/v1/tenant/members", cat, dans, "", 403, "do not belong to this tenant"},
		{"a tenant one is not in (claim)", "POST", "/v1/tenant/leave", e.token("cat", dans), "", "", 403, "do not belong to this tenant"},
		{"no tenant claim", "GET", "/v1/tenant", e.token("cat", ""), "", "", 403, "refresh it"},
		{"a tenant id that is not UTF-8", "GET", "/v1/tenant/members", cat, "\xff\xfe", "", 403, "do not belong to this tenant"},
		{"a member id that is not UTF-8", "DELETE", "/v1/tenant/members/%FF", ann, "", "", 404, "no such member"},
	} {
		status, p := e.call(tc.method, tc.path, tc.token, tc.header, tc.body)
		if detail, _ := p["detail"].(string); status != tc.status || !strings.Contains(detail, tc.detail) {
			t.Errorf("%s: %d %v; want %d with %q", tc.name, status, p, tc.status, tc.detail)
		}
	}
	if got := e.announced(before); len(got) != 0 {
		t.Errorf("refused actions announced %v", got)
	}
}

// Each action announces its events exactly once; doing it again announces nothing; a removed member loses
// access at once, with the token they still hold.
func TestMemberActionsAnnounceOnce(t *testing.T) {
	e, dans := sharedTenant(t)
	ann, bob, cat := e.token("ann", "shared"), e.token("bob", "shared"), e.token("cat", "shared")
	added, changed, removed := events.TenantMemberAdded.Subject, events.TenantMemberRoleChanged.Subject, events.TenantMemberRemoved.Subject
	updated, created := events.UserUpdated.Subject, events.TenantCreated.Subject
	for _, tc := range []struct {
		name, method, path, token, header, body string
		status                                  int
		want                                    map[string]int
	}{
		{"ann makes bob admin", "PATCH", "/v1/tenant/members/bob", ann, "", `{"role":"admin"}`, 200, map[string]int{changed: 1, updated: 1}},
		{"again: nothing", "PATCH", "/v1/tenant/members/bob", ann, "", `{"role":"admin"}`, 200, map[string]int{}},
		{"bob demotes ann", "PATCH", "/v1/tenant/members/ann", bob, "", `{"role":"member"}`, 200, map[string]int{changed: 1, updated: 1}},
		{"bob makes ann admin again", "PATCH", "/v1/tenant/members/ann", bob, "", `{"role":"admin"}`, 200, map[string]int{changed: 1, updated: 1}},
		// cat's only tenant: cat gets a personal tenant back, and a Keycloak sync for the new tenant claim.
		{"bob removes cat", "DELETE", "/v1/tenant/members/cat", bob, "", "", 204, map[string]int{removed: 1, created: 1, added: 1, updated: 1}},
		{"cat's token no longer works", "GET", "/v1/tenant/members", cat, "", "", 403, map[string]int{}},
		{"removing cat again", "DELETE", "/v1/tenant/members/cat", bob, "", "", 404, map[string]int{}},
		{"dan removes bob from a tenant that is not bob's default", "DELETE", "/v1/tenant/members/bob", e.token("dan", dans), "", "", 204, map[string]int{removed: 1}},
		{"ann leaves (bob is admin too)", "POST", "/v1/tenant/leave", ann, "", "", 204, map[string]int{removed: 1, created: 1, added: 1, updated: 1}},
		{"ann's token no longer works", "GET", "/v1/tenant", ann, "", "", 403, map[string]int{}},
		{"bob, last admin now, cannot leave", "POST", "/v1/tenant/leave", bob, "", "", 409, map[string]int{}},
	} {
		before := e.outbox()
		status, p := e.call(tc.method, tc.path, tc.token, tc.header, tc.body)
		if got := e.announced(before); status != tc.status || !maps.Equal(got, tc.want) {
			t.Errorf("%s: %d %v, announced %v; want %d, %v", tc.name, status, p, got, tc.status, tc.want)
		}
	}
	var tenant, role string
	var syncs int
	if err := e.db.QueryRow(context.Background(), `SELECT tenant_id, role, (SELECT count(*) FROM keycloak_sync WHERE user_id = 'cat') FROM users WHERE id = 'cat'`).Scan(&tenant, &role, &syncs); err != nil {
		t.Fatal(err)
	}
	if tenant != domain.PersonalTenantID("cat") || role != "admin" || syncs != 1 {
		t.Errorf("cat is now in %s as %s with %d Keycloak syncs; want the personal tenant as admin, synced", tenant, role, syncs)
	}
	// cat's new token works in the new tenant.
	if status, p := e.call("GET", "/v1/tenant", e.token("cat", tenant), "", ""); status != 200 || p["id"] != tenant {
		t.Errorf("cat's new tenant: %d %v", status, p)
	}
}

// Two admins demoting each other at once: the tenant's memberships are locked, so one wins and the other,
// a member by then, is refused (403 not an admin, or 409 last admin); the tenant always keeps an admin.
func TestConcurrentDemotionsKeepAnAdmin(t *testing.T) {
	e, _ := sharedTenant(t)
	if status, p := e.call("PATCH", "/v1/tenant/members/bob", e.token("ann", "shared"), "", `{"role":"admin"}`); status != 200 {
		t.Fatalf("promote bob: %d %v", status, p)
	}
	statuses := make(chan int, 2)
	for _, pair := range [][2]string{{"ann", "bob"}, {"bob", "ann"}} {
		go func() {
			status, _ := e.call("PATCH", "/v1/tenant/members/"+pair[1], e.token(pair[0], "shared"), "", `{"role":"member"}`)
			statuses <- status
		}()
	}
	got := []int{<-statuses, <-statuses}
	slices.Sort(got)
	var admins int
	if err := e.db.QueryRow(context.Background(), `SELECT count(*) FROM memberships WHERE tenant_id = 'shared' AND role = 'admin'`).Scan(&admins); err != nil {
		t.Fatal(err)
	}
	if got[0] != 200 || (got[1] != 403 && got[1] != 409) || admins != 1 {
		t.Errorf("statuses %v, %d admins; want one 200, one refused and 1 admin", got, admins)
	}
}

package admin_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/connectedbbq/platform/pkg/events"
	eventsv1 "github.com/connectedbbq/platform/pkg/gen/bbq/events/v1"
	"github.com/connectedbbq/platform/services/user-service/internal/admin"
	"github.com/connectedbbq/platform/services/user-service/internal/store"
	"github.com/connectedbbq/platform/services/user-service/internal/store/storetest"
	"github.com/connectedbbq/platform/testing/pgtest"
)

var srv *pgtest.Server

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &srv)) }

const token = "admin-test-token-0123456789"

// env is the admin API on its own database, served as main serves it.
type env struct {
	t     *testing.T
	store *store.Store
	url   string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	t.Parallel()
	s := storetest.Open(t, srv)
	mux := http.NewServeMux()
	admin.New(token, s, slog.New(slog.NewTextHandler(t.Output(), nil))).Mount(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return &env{t: t, store: s, url: hs.URL}
}

// do sends a request with the token given and returns the status and the decoded JSON answer.
func (e *env) do(method, path, bearer, body string) (int, map[string]any) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

func (e *env) scalar(sql string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.store.Pool().QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// activate signs a user up and verifies the email, as the consumer applies idp-hook's events.
func (e *env) activate(user, email string) {
	e.t.Helper()
	apply := func(k events.Kind, id string, data proto.Message) {
		e.t.Helper()
		ev, err := events.New(k, events.Meta{ID: id, Source: events.IdPSource("bbq"), Subject: user, Time: time.Now()}, data)
		if err != nil {
			e.t.Fatal(err)
		}
		if _, err := e.store.Apply(context.Background(), events.Decoded{Event: ev, Kind: k, Data: data}); err != nil {
			e.t.Fatalf("apply %s: %v", id, err)
		}
	}
	apply(events.UserRegistered, "reg-"+user, &eventsv1.UserRegistered{UserId: user, Email: email, Name: "N", Realm: "bbq"})
	apply(events.UserEmailVerified, "ver-"+user, &eventsv1.UserEmailVerified{UserId: user, Realm: "bbq"})
}

const smokehouse = `{"displayName":" Smokehouse Inc ","emailDomains":["SmokeHouse.example"],"admins":["Boss@smokehouse.example"]}`

// The operator's whole conversation with one tenant, each answer as the controller relies on it.
func TestDeclaredTenantLifecycle(t *testing.T) {
	e := newEnv(t)
	const path = "/admin/v1/tenants/smokehouse"
	steps := []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"no token", http.MethodPut, path, "", smokehouse, http.StatusUnauthorized},
		{"wrong token", http.MethodPut, path, "not-the-admin-token-at-all", smokehouse, http.StatusUnauthorized},
		{"a prefix of the token", http.MethodPut, path, token[:10], smokehouse, http.StatusUnauthorized},
		{"get before it exists", http.MethodGet, path, token, "", http.StatusNotFound},
		{"create", http.MethodPut, path, token, smokehouse, http.StatusCreated},
		{"the same again", http.MethodPut, path, token, smokehouse, http.StatusOK},
		{"a domain of another tenant", http.MethodPut, "/admin/v1/tenants/other", token,
			`{"displayName":"Other","emailDomains":["smokehouse.example"]}`, http.StatusConflict},
		{"refused before the store", http.MethodPut, "/admin/v1/tenants/Bad_Id", token, smokehouse, http.StatusBadRequest},
		{"delete unknown is idempotent", http.MethodDelete, "/admin/v1/tenants/nope", token, "", http.StatusNoContent},
	}
	for _, s := range steps {
		if got, body := e.do(s.method, s.path, s.token, s.body); got != s.want {
			t.Fatalf("%s: %s %s = %d %v, want %d", s.name, s.method, s.path, got, body, s.want)
		}
	}
	status, got := e.do(http.MethodGet, path, token, "")
	if status != http.StatusOK || got["displayName"] != "Smokehouse Inc" || got["kind"] != "declared" ||
		strings.Join(toStrings(got["emailDomains"]), ",") != "smokehouse.example" ||
		strings.Join(toStrings(got["admins"]), ",") != "boss@smokehouse.example" {
		t.Errorf("GET = %d %v; want the trimmed name, domains and admins lower-cased, kind declared", status, got)
	}
	if n := e.scalar(`SELECT count(*) FROM tenants WHERE id IN ('other', 'bad_id')`); n != 0 {
		t.Errorf("%d refused tenants were stored", n)
	}
	if n := e.scalar(`SELECT count(*) FROM outbox WHERE subject = $1`, events.TenantCreated.Subject); n != 1 {
		t.Errorf("%d TenantCreated in the outbox after two PUTs, want 1", n)
	}
}

// A tenant keeps its people: deleting one with members, or a personal tenant, is refused; an empty declared
// tenant goes.
func TestDeleteTenant(t *testing.T) {
	e := newEnv(t)
	for id, body := range map[string]string{"smokehouse": smokehouse, "empty": `{"displayName":"Empty","emailDomains":["empty.example"]}`} {
		if status, answer := e.do(http.MethodPut, "/admin/v1/tenants/"+id, token, body); status != http.StatusCreated {
			t.Fatalf("PUT %s = %d %v", id, status, answer)
		}
	}
	e.activate("boss", "boss@smokehouse.example")
	e.activate("pat", "pat@elsewhere.example")
	var personal string
	if err := e.store.Pool().QueryRow(context.Background(), `SELECT tenant_id FROM users WHERE id = 'pat'`).Scan(&personal); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		id   string
		want int
	}{{"smokehouse", http.StatusConflict}, {personal, http.StatusConflict}, {"empty", http.StatusNoContent}} {
		if got, body := e.do(http.MethodDelete, "/admin/v1/tenants/"+s.id, token, ""); got != s.want {
			t.Errorf("DELETE %s = %d %v, want %d", s.id, got, body, s.want)
		}
	}
	if n := e.scalar(`SELECT count(*) FROM tenants WHERE id IN ('smokehouse', $1)`, personal); n != 2 {
		t.Errorf("%d of the two refused deletions kept their tenant", n)
	}
	if got, _ := e.do(http.MethodGet, "/admin/v1/tenants/empty", token, ""); got != http.StatusNotFound {
		t.Errorf("GET a deleted tenant = %d, want 404", got)
	}
}

// A store that cannot answer is a 503 the controller retries, never a 404 or 409 it would act on.
func TestStoreDownIsUnavailable(t *testing.T) {
	e := newEnv(t)
	e.store.Close()
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		if got, body := e.do(method, "/admin/v1/tenants/acme", token, smokehouse); got != http.StatusServiceUnavailable {
			t.Errorf("%s with the store down = %d %v, want 503", method, got, body)
		}
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// A declared tenant's identity provider: stored and shown; an alias that is no alias is refused with the
// reason (422, as every rule of the spec); a changed alias or domain list requests the organization's job
// (migration 00012's triggers), the same spec again does not.
// lastTenantUpdated decodes the newest TenantUpdated in the outbox.
func (e *env) lastTenantUpdated(t *testing.T) *eventsv1.TenantUpdated {
	t.Helper()
	var raw []byte
	if err := e.store.Pool().QueryRow(context.Background(), `SELECT event FROM outbox WHERE subject = $1 ORDER BY id DESC LIMIT 1`,
		events.TenantUpdated.Subject).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	d, err := events.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := d.Data.(*eventsv1.TenantUpdated)
	return u
}

func TestIdentityProviderOfADeclaredTenant(t *testing.T) {
	e := newEnv(t)
	const path = "/admin/v1/tenants/corp"
	put := func(body string, want int) map[string]any {
		t.Helper()
		status, answer := e.do(http.MethodPut, path, token, body)
		if status != want {
			t.Fatalf("PUT %s = %d %v, want %d", body, status, answer, want)
		}
		return answer
	}
	jobs := func() int {
		return e.scalar(`SELECT count(*) FROM keycloak_org_sync WHERE tenant_id = 'corp' AND user_id = ''`)
	}
	clearJobs := func() { e.scalar(`WITH d AS (DELETE FROM keycloak_org_sync RETURNING 1) SELECT count(*) FROM d`) }

	if got := put(`{"displayName":"Corp","emailDomains":["corp.example"],"identityProvider":"corp"}`, http.StatusCreated); got["identityProvider"] != "corp" {
		t.Errorf("PUT answer's identityProvider %v; want corp", got["identityProvider"])
	}
	if _, got := e.do(http.MethodGet, path, token, ""); got["identityProvider"] != "corp" {
		t.Errorf("GET identityProvider %v; want corp", got["identityProvider"])
	}
	for _, bad := range []string{"corp sso", "-corp", "corp/../x", strings.Repeat("c", 101)} {
		answer := put(`{"displayName":"Corp","identityProvider":"`+bad+`"}`, http.StatusUnprocessableEntity)
		if detail, _ := answer["detail"].(string); !strings.Contains(detail, "identityProvider: "+bad+" is not an identity provider alias") {
			t.Errorf("refusal of %q: detail %q; want it to name the field and the rule", bad, detail)
		}
	}
	clearJobs()
	for _, s := range []struct {
		name, body string
		jobs       int
		announced  string // the identity_provider of the TenantUpdated announced, "-" for none
	}{
		{"the same spec", `{"displayName":"Corp","emailDomains":["corp.example"],"identityProvider":"corp"}`, 0, "-"},
		{"another alias", `{"displayName":"Corp","emailDomains":["corp.example"],"identityProvider":"corp-new"}`, 1, "corp-new"},
		{"cleared", `{"displayName":"Corp","emailDomains":["corp.example"]}`, 1, ""},
		{"a domain added", `{"displayName":"Corp","emailDomains":["corp.example","corp-eu.example"]}`, 1, "-"},
	} {
		before := e.scalar(`SELECT count(*) FROM outbox WHERE subject = $1`, events.TenantUpdated.Subject)
		put(s.body, http.StatusOK)
		if n := jobs(); n != s.jobs {
			t.Errorf("%s: %d organization jobs requested; want %d", s.name, n, s.jobs)
		}
		clearJobs()
		n := e.scalar(`SELECT count(*) FROM outbox WHERE subject = $1`, events.TenantUpdated.Subject) - before
		if s.announced == "-" {
			if n != 0 {
				t.Errorf("%s: %d TenantUpdated announced; want none", s.name, n)
			}
			continue
		}
		if u := e.lastTenantUpdated(t); n != 1 || u.GetIdentityProvider() != s.announced || !slices.Equal(u.GetChangedFields(), []string{"identity_provider"}) {
			t.Errorf("%s: %d TenantUpdated, the last %v; want one with identity_provider %q, changed [identity_provider]", s.name, n, u, s.announced)
		}
	}
	if _, got := e.do(http.MethodGet, path, token, ""); got["identityProvider"] != "" {
		t.Errorf("GET identityProvider after clearing %v; want empty", got["identityProvider"])
	}
}

package keycloak_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/connectedbbq/platform/pkg/keycloak"
	"github.com/connectedbbq/platform/testing/kctest"
)

var kc *kctest.Keycloak

func TestMain(m *testing.M) { os.Exit(kctest.Main(m, &kc)) }

func ptr[T any](v T) *T { return &v }

// TestUsers runs the user calls with user-service's own service account (manage-users, view-users).
func TestUsers(t *testing.T) {
	realm := kctest.NewRealm(t, kc, kctest.Options{})
	c := realm.ServiceClient(t, "user-service")
	ctx := context.Background()

	var ids []string
	for i := range 3 {
		email := fmt.Sprintf("user%d@example.com", i)
		id, err := c.CreateUser(ctx, keycloak.User{Username: email, Email: email, Enabled: true, EmailVerified: true,
			FirstName: fmt.Sprintf("User %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if _, err := c.CreateUser(ctx, keycloak.User{Username: "user0@example.com", Email: "user0@example.com",
		Enabled: true}); !errors.Is(err, keycloak.ErrConflict) {
		t.Fatalf("duplicate create: err = %v, want ErrConflict", err)
	}

	if err := c.SetAttribute(ctx, ids[0], "tenant", "t-1"); err != nil {
		t.Fatal(err)
	}
	if err := c.UpdateUser(ctx, ids[0], keycloak.UserUpdate{FirstName: ptr("Renamed"), LastName: ptr("Admin-set")}); err != nil {
		t.Fatal(err)
	}
	u, err := c.GetUser(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if u.FirstName != "Renamed" || u.LastName != "Admin-set" || u.Attribute("tenant") != "t-1" || !u.EmailVerified {
		t.Fatalf("after updates: %+v (the update must keep the tenant)", u)
	}
	if err := c.SetAttribute(ctx, ids[0], "tenant"); err != nil { // no values: cleared
		t.Fatal(err)
	}
	if u, _ = c.GetUser(ctx, ids[0]); u.Attribute("tenant") != "" {
		t.Fatalf("tenant not cleared: %v", u.Attributes)
	}

	found, err := c.FindUserByEmail(ctx, "USER1@example.com")
	if err != nil || found.ID != ids[1] {
		t.Fatalf("find by email: %+v, %v", found, err)
	}
	if _, err := c.FindUserByEmail(ctx, "nobody@example.com"); !errors.Is(err, keycloak.ErrNotFound) {
		t.Fatalf("find missing: %v", err)
	}

	n, err := c.CountUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var pages []string
	for first := 0; ; first += 2 {
		page, err := c.ListUsers(ctx, first, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page {
			pages = append(pages, p.ID)
		}
		if len(page) < 2 {
			break
		}
	}
	// The realm's service-account users are not counted or listed as users.
	if n != 3 || len(pages) != 3 {
		t.Fatalf("count %d, listed %d (%v), want 3", n, len(pages), pages)
	}
	for _, id := range ids {
		if !slices.Contains(pages, id) {
			t.Errorf("user %s not listed", id)
		}
	}

	if err := c.DeleteUser(ctx, ids[2]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetUser(ctx, ids[2]); !errors.Is(err, keycloak.ErrNotFound) {
		t.Fatalf("get deleted: err = %v, want ErrNotFound", err)
	}
	var apiErr *keycloak.APIError
	if err := c.DeleteUser(ctx, ids[2]); !errors.As(err, &apiErr) || apiErr.Status != 404 {
		t.Fatalf("delete deleted: %v", err)
	}
}

// PutAttribute writes one attribute through the bbq admin extension (deploy/keycloak/provider) and nothing
// else of the user; it needs manage-users, writes only the configured attributes (tenant), validates the
// value with the realm's user profile, and reports a missing user as ErrNotFound.
func TestPutAttribute(t *testing.T) {
	realm := kctest.NewRealm(t, kc, kctest.Options{})
	us := realm.ServiceClient(t, "user-service")
	ctx := context.Background()
	id, err := us.CreateUser(ctx, keycloak.User{Username: "p@example.com", Email: "p@example.com", FirstName: "Pat",
		LastName: "Quinn", Enabled: true, EmailVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := us.PutAttribute(ctx, id, "tenant", "t-1"); err != nil {
		t.Fatal(err)
	}
	u, err := us.GetUser(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if u.Attribute("tenant") != "t-1" || u.Email != "p@example.com" || u.FirstName != "Pat" || u.LastName != "Quinn" || !u.EmailVerified {
		t.Fatalf("after PutAttribute: %+v", u)
	}
	if err := us.PutAttribute(ctx, id, "tenant"); err != nil {
		t.Fatal(err)
	}
	if u, _ = us.GetUser(ctx, id); u.Attribute("tenant") != "" || u.Email != "p@example.com" {
		t.Fatalf("after removing: %+v", u)
	}
	var apiErr *keycloak.APIError
	for _, tc := range []struct{ name, value string }{{"email", "x@example.com"}, {"tenant", strings.Repeat("x", 65)}} {
		if err := us.PutAttribute(ctx, id, tc.name, tc.value); !errors.As(err, &apiErr) || apiErr.Status != 400 {
			t.Errorf("PutAttribute(%s=%.10s...) = %v, want HTTP 400", tc.name, tc.value, err)
		}
	}
	if err := us.PutAttribute(ctx, "6f1c1c1e-0000-4000-8000-000000000000", "tenant", "t"); !errors.Is(err, keycloak.ErrNotFound) {
		t.Errorf("missing user: %v, want ErrNotFound", err)
	}
	if err := realm.ServiceClient(t, "idp-hook").PutAttribute(ctx, id, "tenant", "t-evil"); !errors.Is(err, keycloak.ErrUnauthorized) {
		t.Errorf("idp-hook (view-users only): %v, want 403", err)
	}
	if u, _ = us.GetUser(ctx, id); u.Attribute("tenant") != "" || u.Email != "p@example.com" {
		t.Fatalf("after refused writes: %+v", u)
	}
}

// PutAttributes writes the tenant and the role in it together, in one admin event, and nothing else; an
// attribute the extension may not write refuses the whole request.
func TestPutAttributes(t *testing.T) {
	realm := kctest.NewRealm(t, kc, kctest.Options{})
	us := realm.ServiceClient(t, "user-service")
	ctx := context.Background()
	id, err := us.CreateUser(ctx, keycloak.User{Username: "r@example.com", Email: "r@example.com", FirstName: "Rae", Enabled: true, EmailVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := us.PutAttributes(ctx, id, map[string][]string{"tenant": {"t-1"}, "tenant_role": {"admin"}}); err != nil {
		t.Fatal(err)
	}
	if u, _ := us.GetUser(ctx, id); u.Attribute("tenant") != "t-1" || u.Attribute("tenant_role") != "admin" || u.FirstName != "Rae" {
		t.Fatalf("after PutAttributes: %+v", u)
	}
	var apiErr *keycloak.APIError
	if err := us.PutAttributes(ctx, id, map[string][]string{"tenant_role": {"member"}, "email": {"x@example.com"}}); !errors.As(err, &apiErr) || apiErr.Status != 400 {
		t.Errorf("with email: %v, want HTTP 400", err)
	}
	if err := us.PutAttributes(ctx, id, map[string][]string{"tenant_role": nil}); err != nil {
		t.Fatal(err)
	}
	if u, _ := us.GetUser(ctx, id); u.Attribute("tenant") != "t-1" || u.Attribute("tenant_role") != "" || u.Email != "r@example.com" {
		t.Fatalf("after removing the role: %+v", u)
	}
}

// TestEvents reads stored user and admin events with idp-hook's service account (view-events, view-users),
// which may read but not change users.
func TestEvents(t *testing.T) {
	realm := kctest.NewRealm(t, kc, kctest.Options{})
	ctx := context.Background()
	start := time.Now().Add(-time.Second)
	s := realm.SignUp(t, "events@example.com", "Events-Password-42", "Eve")
	s.FollowVerification(t)
	id, err := realm.Admin(t).CreateUser(ctx, keycloak.User{Username: "admin-made@example.com",
		Email: "admin-made@example.com", Enabled: true, FirstName: "Made"})
	if err != nil {
		t.Fatal(err)
	}

	hook := realm.ServiceClient(t, "idp-hook")
	evs, err := hook.Events(ctx, keycloak.EventQuery{Since: start, Types: []string{"REGISTER", "VERIFY_EMAIL"},
		Ascending: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Type != "REGISTER" || evs[1].Type != "VERIFY_EMAIL" || evs[0].UserID == "" ||
		evs[0].Details["email"] != "events@example.com" || evs[0].ID == "" {
		t.Fatalf("events = %+v", evs)
	}
	if later, err := hook.Events(ctx, keycloak.EventQuery{Since: time.Now().Add(time.Hour)}); err != nil || len(later) != 0 {
		t.Fatalf("events since the future: %v, %v", later, err)
	}
	ads, err := hook.AdminEvents(ctx, keycloak.AdminEventQuery{Since: start, ResourceTypes: []string{"USER"},
		OperationTypes: []string{"CREATE"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(ads) != 1 || ads[0].ResourcePath != "users/"+id || ads[0].Representation == "" {
		t.Fatalf("admin events = %+v", ads)
	}

	if err := hook.DeleteUser(ctx, id); !errors.Is(err, keycloak.ErrUnauthorized) {
		t.Fatalf("idp-hook deleting a user: err = %v, want ErrUnauthorized (403)", err)
	}
	bad, err := keycloak.New(keycloak.Config{BaseURL: kc.URL, Realm: realm.Name, ClientID: "idp-hook",
		ClientSecret: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.CountUsers(ctx); !errors.Is(err, keycloak.ErrUnauthorized) {
		t.Fatalf("wrong secret: err = %v, want ErrUnauthorized", err)
	}
}

// TestGroups uses tenant-controller's service account.
func TestGroups(t *testing.T) {
	realm := kctest.NewRealm(t, kc, kctest.Options{})
	c := realm.ServiceClient(t, "tenant-controller")
	ctx := context.Background()
	gid, err := c.EnsureGroup(ctx, "tenant-acme", map[string][]string{"tenant": {"acme"}})
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.EnsureGroup(ctx, "tenant-acme", map[string][]string{"tenant": {"acme"}, "suspended": {"true"}})
	if err != nil || again != gid {
		t.Fatalf("ensure again: %s, %v (want %s)", again, err, gid)
	}
	g, err := c.GetGroup(ctx, gid)
	if err != nil || g.Attributes["suspended"][0] != "true" {
		t.Fatalf("group = %+v, %v", g, err)
	}
	uid, err := c.CreateUser(ctx, keycloak.User{Username: "member@example.com", Email: "member@example.com", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddUserToGroup(ctx, uid, gid); err != nil {
		t.Fatal(err)
	}
	members, err := c.GroupMembers(ctx, gid, 0, 10)
	if err != nil || len(members) != 1 || members[0].ID != uid {
		t.Fatalf("members = %+v, %v", members, err)
	}
	if err := c.RemoveUserFromGroup(ctx, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteGroup(ctx, gid); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteGroup(ctx, gid); err != nil {
		t.Fatalf("deleting a missing group: %v", err)
	}
	if _, err := c.GetGroup(ctx, gid); !errors.Is(err, keycloak.ErrNotFound) {
		t.Fatalf("get deleted group: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  keycloak.Config
		ok   bool
	}{
		{"service account", keycloak.Config{BaseURL: "http://kc/auth", Realm: "bbq", ClientID: "x", ClientSecret: "s"}, true},
		{"password grant", keycloak.Config{BaseURL: "http://kc/auth", Realm: "bbq", ClientID: "admin-cli", Username: "a", Password: "p"}, true},
		{"no url", keycloak.Config{Realm: "bbq", ClientID: "x", ClientSecret: "s"}, false},
		{"no realm", keycloak.Config{BaseURL: "http://kc/auth", ClientID: "x", ClientSecret: "s"}, false},
		{"no secret", keycloak.Config{BaseURL: "http://kc/auth", Realm: "bbq", ClientID: "x"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// A user id of "." or ".." would make the request address the realm or the users collection instead of a
// user: the client refuses to send it.
func TestRefusesIDsThatChangeThePath(t *testing.T) {
	realm := kctest.NewRealm(t, kc, kctest.Options{})
	c := realm.ServiceClient(t, "user-service")
	ctx := context.Background()
	for _, id := range []string{"..", "."} {
		if _, err := c.GetUser(ctx, id); err == nil || !strings.Contains(err.Error(), "path segment") {
			t.Errorf("GetUser(%q) = %v, want a refusal", id, err)
		}
		if err := c.SetAttribute(ctx, id, "tenant", "t-evil"); err == nil || !strings.Contains(err.Error(), "path segment") {
			t.Errorf("SetAttribute(%q) = %v, want a refusal", id, err)
		}
	}
}

// addIdentityProvider gives the realm an OIDC identity provider (never contacted: only linked to).
func addIdentityProvider(t *testing.T, realm *kctest.Realm, alias string) {
	t.Helper()
	idp := map[string]any{"alias": alias, "providerId": "oidc", "enabled": true, "config": map[string]any{
		"clientId": "bbq", "clientSecret": "unused", "authorizationUrl": "http://127.0.0.1:1/auth",
		"tokenUrl": "http://127.0.0.1:1/token", "clientAuthMethod": "client_secret_post"}}
	if err := kc.AdminRequest(context.Background(), "POST", "/admin/realms/"+realm.Name+"/identity-provider/instances", idp, nil); err != nil {
		t.Fatal(err)
	}
}

// GetUser returns the identity-provider links: idp-hook's reconciler and backfill read the state from it
// with idp-hook's own service account (view-users).
func TestGetUserHasFederatedIdentities(t *testing.T) {
	realm := kctest.NewRealm(t, kc, kctest.Options{})
	addIdentityProvider(t, realm, "second-realm")
	ctx := context.Background()
	us := realm.ServiceClient(t, "user-service")
	id, err := us.CreateUser(ctx, keycloak.User{Username: "linked@example.com", Email: "linked@example.com", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	hook := realm.ServiceClient(t, "idp-hook")
	if u, err := hook.GetUser(ctx, id); err != nil || len(u.FederatedIdentities) != 0 {
		t.Fatalf("before linking: %+v, %v", u.FederatedIdentities, err)
	}
	link := keycloak.FederatedIdentity{IdentityProvider: "second-realm", UserID: "ext-42", UserName: "linked"}
	if err := us.LinkIdentity(ctx, id, link); err != nil {
		t.Fatal(err)
	}
	u, err := hook.GetUser(ctx, id)
	if err != nil || len(u.FederatedIdentities) != 1 || u.FederatedIdentities[0] != link {
		t.Fatalf("GetUser after linking: %+v, %v", u.FederatedIdentities, err)
	}
	if fis, err := hook.FederatedIdentities(ctx, id); err != nil || len(fis) != 1 || fis[0] != link {
		t.Fatalf("FederatedIdentities: %+v, %v", fis, err)
	}
	if err := us.UnlinkIdentity(ctx, id, "second-realm"); err != nil {
		t.Fatal(err)
	}
	if u, err = hook.GetUser(ctx, id); err != nil || len(u.FederatedIdentities) != 0 {
		t.Fatalf("after unlinking: %+v, %v", u.FederatedIdentities, err)
	}
}

// The reconciler pages stored events by time (Since and Until inclusive, in milliseconds, oldest first),
// never by offset: check those semantics on the real store, with events that share milliseconds.
func TestEventsPageByTime(t *testing.T) {
	realm := kctest.NewRealm(t, kc, kctest.Options{})
	ctx := context.Background()
	admin := realm.Admin(t)
	start := time.Now().Add(-time.Second)
	errs := make(chan error, 24)
	for i := range cap(errs) { // concurrently, so that some share a millisecond
		go func() {
			email := fmt.Sprintf("page%d@example.com", i)
			_, err := admin.CreateUser(ctx, keycloak.User{Username: email, Email: email, Enabled: true})
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	hook := realm.ServiceClient(t, "idp-hook")
	q := keycloak.AdminEventQuery{Since: start, ResourceTypes: []string{"USER"}, OperationTypes: []string{"CREATE"}, Max: 1000, Ascending: true}
	all, err := hook.AdminEvents(ctx, q)
	if err != nil || len(all) != cap(errs) {
		t.Fatalf("%d admin events, %v", len(all), err)
	}
	perMilli := map[int64]int{}
	for i, e := range all {
		perMilli[e.Time]++
		if i > 0 && e.Time < all[i-1].Time {
			t.Fatalf("not oldest first at %d: %d after %d", i, e.Time, all[i-1].Time)
		}
	}
	for ms, n := range perMilli {
		q.Since, q.Until = time.UnixMilli(ms), time.UnixMilli(ms)
		one, err := hook.AdminEvents(ctx, q)
		if err != nil || len(one) != n {
			t.Fatalf("Since = Until = %d: %d events, want %d (%v)", ms, len(one), n, err)
		}
	}
	t.Logf("%d events in %d distinct milliseconds", len(all), len(perMilli))
}

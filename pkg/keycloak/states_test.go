package keycloak_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/connectedbbq/platform/pkg/keycloak"
	"github.com/connectedbbq/platform/testing/kctest"
)

// UserStates reads many users in one request, each as GetUser has it (identity-provider links included),
// leaves out ids without a user, and asks what GET users/{id} asks: query and view users.
func TestUserStatesReadManyUsersAsGetUserDoes(t *testing.T) {
	realm := kctest.NewRealm(t, kc, kctest.Options{})
	addIdentityProvider(t, realm, "second-realm")
	ctx := context.Background()
	us, hook := realm.ServiceClient(t, "user-service"), realm.ServiceClient(t, "idp-hook")
	var ids []string
	for _, u := range []keycloak.User{
		{Username: "ada@example.com", Email: "ada@example.com", FirstName: "Ada", LastName: "Lovelace", Enabled: true, EmailVerified: true},
		{Username: "bob@example.com", Email: "bob@example.com", Enabled: false},
		{Username: "cy@example.com", Email: "cy@example.com", FirstName: "Cy", LastName: "Young", Enabled: true, EmailVerified: true,
			Credentials: []keycloak.Credential{{Type: "password", Value: "Smoky-Ribs-2026!"}}},
	} {
		id, err := us.CreateUser(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := us.LinkIdentity(ctx, ids[0], keycloak.FederatedIdentity{IdentityProvider: "second-realm", UserID: "ext-1", UserName: "ada"}); err != nil {
		t.Fatal(err)
	}
	gone := "6f1c1c1e-0000-4000-8000-000000000000"
	got, err := hook.UserStates(ctx, []string{ids[0], gone, ids[1], ids[2], ids[0]})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d states for 3 users, a missing one and a repeat: %+v", len(got), got)
	}
	for i, id := range ids {
		want, err := hook.GetUser(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		s := got[i]
		if s.ID != want.ID || s.Username != want.Username || s.Email != want.Email || s.EmailVerified != want.EmailVerified ||
			s.FirstName != want.FirstName || s.LastName != want.LastName || s.Enabled != want.Enabled ||
			s.CreatedTimestamp != want.CreatedTimestamp || len(s.FederatedIdentities) != len(want.FederatedIdentities) {
			t.Errorf("state %+v, GetUser %+v", s, want)
		}
		for j, f := range want.FederatedIdentities {
			if s.FederatedIdentities[j].IdentityProvider != f.IdentityProvider {
				t.Errorf("links %+v, GetUser %+v", s.FederatedIdentities, want.FederatedIdentities)
			}
		}
	}
	if got, err := hook.UserStates(ctx, []string{gone}); err != nil || len(got) != 0 {
		t.Errorf("only a missing id: %+v, %v", got, err)
	}
	// Another realm's user is not this realm's: left out, as GET users/{id} answers 404.
	other := kctest.NewRealm(t, kc, kctest.Options{})
	stranger, err := other.ServiceClient(t, "user-service").CreateUser(ctx, keycloak.User{Username: "eve@example.com", Email: "eve@example.com", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := hook.UserStates(ctx, []string{stranger, ids[1]}); err != nil || len(got) != 1 || got[0].ID != ids[1] {
		t.Errorf("another realm's user beside one of ours: %+v, %v", got, err)
	}

	if _, err := hook.UserStates(ctx, slices.Repeat([]string{ids[0]}, keycloak.MaxUserStates+1)); err == nil {
		t.Error("more than MaxUserStates ids: no error")
	}
	if err := kc.AdminRequest(ctx, "POST", "/admin/realms/"+realm.Name+"/bbq/users/states", []string{}, nil); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("an empty list: %v, want HTTP 400", err)
	}
	// A person's own token has no realm-management role: refused, as GET users/{id} is.
	cy, err := keycloak.New(keycloak.Config{BaseURL: kc.URL, Realm: realm.Name, ClientID: kctest.TestClientID,
		ClientSecret: realm.Secrets[kctest.TestClientID], Username: "cy@example.com", Password: "Smoky-Ribs-2026!"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cy.UserStates(ctx, ids); !errors.Is(err, keycloak.ErrUnauthorized) {
		t.Errorf("a person's token: %v, want 403", err)
	}
}

// StoredAdminEvents lists what Keycloak's AdminEvents lists for users (every operation, oldest first, the same
// time bounds), with the fields the reconciler reads; refuses a wrong query with 400 and a caller without
// view-events with 403.
func TestStoredAdminEventsListAsKeycloaksListDoes(t *testing.T) {
	realm := kctest.NewRealm(t, kc, kctest.Options{})
	ctx := context.Background()
	admin := realm.Admin(t)
	start := time.Now().Add(-time.Second)
	var ids []string
	for i := range 3 {
		email := fmt.Sprintf("stored%d@example.com", i)
		id, err := admin.CreateUser(ctx, keycloak.User{Username: email, Email: email, Enabled: true, FirstName: "Stored"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := admin.DeleteUser(ctx, ids[2]); err != nil {
		t.Fatal(err)
	}
	hook := realm.ServiceClient(t, "idp-hook")
	want, err := hook.AdminEvents(ctx, keycloak.AdminEventQuery{Since: start, ResourceTypes: []string{"USER"},
		OperationTypes: []string{"CREATE", "UPDATE", "DELETE", "ACTION"}, Max: 100, Ascending: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := hook.StoredAdminEvents(ctx, start, time.Time{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 4 || len(got) != len(want) {
		t.Fatalf("%d stored events, Keycloak lists %d (3 creates and a delete at least)", len(got), len(want))
	}
	byID := map[string]keycloak.AdminEvent{}
	for _, e := range want {
		byID[e.ID] = e
	}
	for i, e := range got {
		w := byID[e.ID]
		if e.Time != w.Time || e.RealmID != w.RealmID || e.OperationType != w.OperationType || e.ResourceType != w.ResourceType ||
			e.ResourcePath != w.ResourcePath || e.Representation != w.Representation || e.Error != w.Error {
			t.Errorf("stored %+v, Keycloak's %+v", e, w)
		}
		if i > 0 && e.Time < got[i-1].Time {
			t.Errorf("not oldest first at %d", i)
		}
	}
	// Both bounds inclusive, as Keycloak's: one millisecond alone.
	if one, err := hook.StoredAdminEvents(ctx, time.UnixMilli(got[0].Time), time.UnixMilli(got[0].Time), 100); err != nil || len(one) < 1 || one[0].Time != got[0].Time {
		t.Errorf("dateFrom = dateTo = the first event's time: %+v, %v", one, err)
	}
	if page, err := hook.StoredAdminEvents(ctx, start, time.Time{}, 2); err != nil || len(page) != 2 {
		t.Errorf("max 2: %d events, %v", len(page), err)
	}

	path := "/admin/realms/" + realm.Name + "/bbq/admin-events"
	for _, q := range []string{"", "?max=0", "?max=10001", "?max=x", "?max=5&dateFrom=soon", "?max=5&dateFrom=2&dateTo=1"} {
		if err := kc.AdminRequest(ctx, "GET", path+q, nil, nil); err == nil || !strings.Contains(err.Error(), "400") {
			t.Errorf("GET bbq/admin-events%s: %v, want HTTP 400", q, err)
		}
	}
	// user-service may manage users but not view events: refused, as Keycloak's list refuses it.
	if _, err := realm.ServiceClient(t, "user-service").StoredAdminEvents(ctx, start, time.Time{}, 10); !errors.Is(err, keycloak.ErrUnauthorized) {
		t.Errorf("user-service's token: %v, want 403", err)
	}
}

package keycloak_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

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

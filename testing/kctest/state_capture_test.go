package kctest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/connectedbbq/platform/pkg/keycloak"
	"github.com/connectedbbq/platform/testing/kctest"
)

// bbqUser is the provider's extra field: the user as the event's transaction left it.
type bbqUser struct {
	ID                  string   `json:"id"`
	Email               string   `json:"email"`
	EmailVerified       bool     `json:"emailVerified"`
	FirstName           string   `json:"firstName"`
	Enabled             bool     `json:"enabled"`
	FederatedIdentities []string `json:"federatedIdentities"`
}

func userOf(t *testing.T, d kctest.Delivery) *bbqUser {
	t.Helper()
	var b struct {
		User *bbqUser `json:"bbqUser"`
	}
	if err := json.Unmarshal(d.Body, &b); err != nil {
		t.Fatal(err)
	}
	return b.User
}

// TestWebhooksCarryTheUsersState walks one account through every change the platform cares about (sign-up,
// verification, name and email changes, an admin disabling, enabling and un-verifying it, an identity-provider
// link added and removed) and checks that each webhook's bbqUser is the state that change committed. Every
// event type is stored for the test realm, so the test also lists what Keycloak emitted (docs/keycloak.md).
// With -update-fixtures it writes the bodies to services/idp-hook/testdata/keycloak.
func TestWebhooksCarryTheUsersState(t *testing.T) {
	ctx := context.Background()
	var info struct {
		Enums map[string][]string `json:"enums"`
	}
	if err := kc.AdminRequest(ctx, http.MethodGet, "/admin/serverinfo", nil, &info); err != nil {
		t.Fatal(err)
	}
	recv := kctest.NewReceiver(t)
	realm := kctest.NewRealm(t, kc, kctest.Options{WebhookURL: recv.URL, WebhookSecrets: recv.Secrets, AllowUpdateEmail: true,
		Realm: func(rep map[string]any) { rep["enabledEventTypes"] = info.Enums["eventType"] }})
	idp := map[string]any{"alias": "second-realm", "providerId": "oidc", "enabled": true, "config": map[string]any{
		"clientId": "bbq", "clientSecret": "unused", "authorizationUrl": "http://127.0.0.1:1/auth",
		"tokenUrl": "http://127.0.0.1:1/token", "clientAuthMethod": "client_secret_post"}}
	if err := kc.AdminRequest(ctx, http.MethodPost, "/admin/realms/"+realm.Name+"/identity-provider/instances", idp, nil); err != nil {
		t.Fatal(err)
	}
	const wait = 30 * time.Second
	email, newEmail, password := "ada.lovelace@example.com", "ada.king@example.com", "Analytical-Engine-1843"
	fixtures := map[string]kctest.Delivery{}
	expect := func(name string, match func(kctest.Delivery) bool, check func(u *bbqUser) bool) kctest.Delivery {
		t.Helper()
		d := recv.Wait(t, wait, func(d kctest.Delivery) bool { return match(d) && !seen(fixtures, d) })
		if u := userOf(t, d); u == nil || !check(u) {
			t.Errorf("%s: bbqUser = %+v", name, u)
		}
		fixtures[name] = d
		return d
	}

	s := realm.SignUp(t, email, password, "Ada Lovelace")
	uid := expect("register", kctest.UserEvent("REGISTER", ""), func(u *bbqUser) bool {
		return u.Email == email && !u.EmailVerified && u.Enabled && u.FirstName == "Ada Lovelace"
	}).UserID
	tok := s.FollowVerification(t)
	expect("verify_email", kctest.UserEvent("VERIFY_EMAIL", uid), func(u *bbqUser) bool { return u.EmailVerified })

	realm.UpdateProfile(t, tok, "Ada King")
	expect("update_profile", kctest.UserEvent("UPDATE_PROFILE", uid), func(u *bbqUser) bool {
		return u.FirstName == "Ada King" && u.EmailVerified
	})
	// The person changes the email (UPDATE_EMAIL action): Keycloak changes it once the mailed link is followed.
	s.UpdateEmail(t, newEmail)
	s.FollowEmailChange(t)
	expect("update_email", kctest.UserEvent("UPDATE_EMAIL", uid), func(u *bbqUser) bool {
		return u.Email == newEmail && u.EmailVerified
	})
	userPath := "/admin/realms/" + realm.Name + "/users/" + uid

	adminSet := func(name string, change map[string]any, check func(u *bbqUser) bool) {
		t.Helper()
		var full map[string]any
		if err := kc.AdminRequest(ctx, http.MethodGet, userPath, nil, &full); err != nil {
			t.Fatal(err)
		}
		for k, v := range change {
			full[k] = v
		}
		if err := kc.AdminRequest(ctx, http.MethodPut, userPath, full, nil); err != nil {
			t.Fatal(err)
		}
		expect(name, kctest.AdminUserEvent("UPDATE", uid), check)
	}
	adminSet("admin_user_disable", map[string]any{"enabled": false}, func(u *bbqUser) bool { return !u.Enabled })
	adminSet("admin_user_enable", map[string]any{"enabled": true}, func(u *bbqUser) bool { return u.Enabled })
	adminSet("admin_user_unverify", map[string]any{"emailVerified": false}, func(u *bbqUser) bool { return !u.EmailVerified })

	// An admin sends the verification mail again; the person follows it.
	sent := time.Now()
	if err := kc.AdminRequest(ctx, http.MethodPut, userPath+"/send-verify-email", nil, nil); err != nil {
		t.Fatal(err)
	}
	s.FollowMailTo(t, newEmail, sent)
	expect("verify_email_after_unverify", kctest.UserEvent("VERIFY_EMAIL", uid), func(u *bbqUser) bool {
		return u.Email == newEmail && u.EmailVerified
	})

	us := realm.ServiceClient(t, "user-service")
	link := keycloak.FederatedIdentity{IdentityProvider: "second-realm", UserID: "ext-42", UserName: "ada"}
	if err := us.LinkIdentity(ctx, uid, link); err != nil {
		t.Fatal(err)
	}
	fedPath := "users/" + uid + "/federated-identity/second-realm"
	expect("admin_link_identity", adminOn("CREATE", fedPath), func(u *bbqUser) bool {
		return slices.Equal(u.FederatedIdentities, []string{"second-realm"})
	})
	if err := us.UnlinkIdentity(ctx, uid, "second-realm"); err != nil {
		t.Fatal(err)
	}
	expect("admin_unlink_identity", adminOn("DELETE", fedPath), func(u *bbqUser) bool { return len(u.FederatedIdentities) == 0 })

	logStoredTypes(t, realm, uid)
	if *updateFixtures {
		for _, name := range []string{"register", "verify_email", "update_profile"} {
			delete(fixtures, name) // TestSignUpDeliversSignedWebhooks writes these
		}
		writeFixtures(t, fixtures)
	}
}

func seen(fixtures map[string]kctest.Delivery, d kctest.Delivery) bool {
	for _, f := range fixtures {
		if f.ID == d.ID {
			return true
		}
	}
	return false
}

func adminOn(op, path string) func(kctest.Delivery) bool {
	return func(d kctest.Delivery) bool {
		return d.Path == "/webhooks/keycloak/admin-events" && d.OperationType == op && d.ResourcePath == path
	}
}

// logStoredTypes lists the event types Keycloak stored for the user (all types are stored in this realm).
func logStoredTypes(t *testing.T, realm *kctest.Realm, uid string) {
	t.Helper()
	evs, err := realm.Admin(t).Events(context.Background(), keycloak.EventQuery{UserID: uid, Max: 1000, Ascending: true})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
	}
	ads, err := realm.Admin(t).AdminEvents(context.Background(), keycloak.AdminEventQuery{ResourcePath: "users/" + uid + "*", Max: 1000, Ascending: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range ads {
		types = append(types, "admin "+a.OperationType+" "+strings.TrimPrefix(a.ResourcePath, "users/"+uid))
	}
	t.Logf("Keycloak stored for the user, oldest first: %s", strings.Join(types, ", "))
}

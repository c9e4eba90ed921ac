package kctest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/connectedbbq/platform/pkg/keycloak"
	"github.com/connectedbbq/platform/testing/kctest"
)

var (
	kc             *kctest.Keycloak
	updateFixtures = flag.Bool("update-fixtures", false, "rewrite services/idp-hook/testdata/keycloak from the real Keycloak")
)

func TestMain(m *testing.M) { os.Exit(kctest.Main(m, &kc)) }

// TestSignUpDeliversSignedWebhooks walks a person through the real registration form and mail verification,
// checks every webhook the provider sends (signature verified by the receiver with pkg/webhook), the tenant
// claim after write-back, and captures the payloads as idp-hook's fixtures.
func TestSignUpDeliversSignedWebhooks(t *testing.T) {
	recv := kctest.NewReceiver(t)
	realm := kctest.NewRealm(t, kc, kctest.Options{WebhookURL: recv.URL, WebhookSecrets: recv.Secrets,
		AllowDeleteAccount: true})
	const wait = 30 * time.Second
	ctx := context.Background()
	email := "ada.lovelace@example.com"
	password := "Analytical-Engine-1843"

	s := realm.SignUp(t, email, password, "Ada Lovelace")
	register := recv.Wait(t, wait, kctest.UserEvent("REGISTER", ""))
	uid := register.UserID
	if uid == "" || register.ID == "" || register.Header.Get("webhook-id") != register.ID {
		t.Fatalf("REGISTER without user id or webhook-id: %s", register.Body)
	}

	tok := s.FollowVerification(t)
	verify := recv.Wait(t, wait, kctest.UserEvent("VERIFY_EMAIL", uid))
	if tok.Subject() != uid {
		t.Errorf("token sub %q, want the registered user %q", tok.Subject(), uid)
	}
	claims, err := tok.Claims()
	if err != nil {
		t.Fatal(err)
	}
	if !audienceHas(claims["aud"], "user-service") {
		t.Errorf("dashboard access token aud = %v, want user-service in it", claims["aud"])
	}
	if _, ok := claims["tenant"]; ok {
		t.Errorf("tenant claim before write-back: %v", claims["tenant"])
	}

	// Write-back as user-service does it: its own service account, only manage-users/view-users.
	us := realm.ServiceClient(t, "user-service")
	if err := us.SetAttribute(ctx, uid, "tenant", "tenant-0001"); err != nil {
		t.Fatal(err)
	}
	writeback := recv.Wait(t, wait, kctest.AdminUserEvent("UPDATE", uid))
	// An admin saving the user in the console PUTs the whole representation (with emailVerified, enabled...).
	var full map[string]any
	userPath := "/admin/realms/" + realm.Name + "/users/" + uid
	if err := kc.AdminRequest(ctx, http.MethodGet, userPath, nil, &full); err != nil {
		t.Fatal(err)
	}
	if err := kc.AdminRequest(ctx, http.MethodPut, userPath, full, nil); err != nil {
		t.Fatal(err)
	}
	adminUpdate := recv.Wait(t, wait, func(d kctest.Delivery) bool {
		return kctest.AdminUserEvent("UPDATE", uid)(d) && d.ID != writeback.ID
	})
	user, err := us.GetUser(ctx, uid)
	if err != nil {
		t.Fatal(err)
	}
	if user.Attribute("tenant") != "tenant-0001" || user.FirstName != "Ada Lovelace" || !user.EmailVerified {
		t.Errorf("user after write-back = %+v", user)
	}
	fresh := realm.PasswordToken(t, email, password)
	for name, decode := range map[string]func() (map[string]any, error){"access": fresh.Claims, "id": fresh.IDClaims} {
		c, err := decode()
		if err != nil {
			t.Fatal(err)
		}
		if c["tenant"] != "tenant-0001" {
			t.Errorf("%s token tenant claim = %v, want tenant-0001", name, c["tenant"])
		}
	}

	// The user sees the tenant but cannot change it.
	acct, err := realm.Account(fresh)
	if err != nil {
		t.Fatal(err)
	}
	if attrs, _ := acct["attributes"].(map[string]any); fmt.Sprint(attrs["tenant"]) != "[tenant-0001]" {
		t.Errorf("account API shows attributes %v, want tenant [tenant-0001]", acct["attributes"])
	}
	err = realm.UpdateAccount(fresh, map[string]any{"attributes": map[string]any{"tenant": []string{"someone-else"}}})
	if err == nil || !strings.Contains(err.Error(), "HTTP 400") {
		t.Errorf("user changing the tenant: err = %v, want HTTP 400 (read-only attribute)", err)
	}
	if u, err := us.GetUser(ctx, uid); err != nil || u.Attribute("tenant") != "tenant-0001" {
		t.Fatalf("after the user tried to change the tenant: %v, %v", u.Attributes, err)
	}

	realm.UpdateProfile(t, fresh, "Ada King")
	updateProfile := recv.Wait(t, wait, kctest.UserEvent("UPDATE_PROFILE", uid))

	admin := realm.Admin(t)
	other, err := admin.CreateUser(ctx, keycloak.User{Username: "grace@example.com", Email: "grace@example.com",
		EmailVerified: true, Enabled: true, FirstName: "Grace Hopper"})
	if err != nil {
		t.Fatal(err)
	}
	adminCreate := recv.Wait(t, wait, kctest.AdminUserEvent("CREATE", other))
	if err := admin.DeleteUser(ctx, other); err != nil {
		t.Fatal(err)
	}
	adminDelete := recv.Wait(t, wait, kctest.AdminUserEvent("DELETE", other))

	s.DeleteAccount(t)
	deleteAccount := recv.Wait(t, wait, kctest.UserEvent("DELETE_ACCOUNT", uid))
	if _, err := us.GetUser(ctx, uid); !errors.Is(err, keycloak.ErrNotFound) {
		t.Errorf("user after DELETE_ACCOUNT: err = %v, want ErrNotFound", err)
	}

	for _, d := range []kctest.Delivery{register, verify, updateProfile, adminCreate, writeback, adminUpdate, adminDelete, deleteAccount} {
		if d.Attempt != 1 || d.Status != http.StatusAccepted {
			t.Errorf("%s %s: attempt %d status %d", d.Type, d.OperationType, d.Attempt, d.Status)
		}
	}
	if *updateFixtures || os.Getenv("KCTEST_UPDATE_FIXTURES") != "" {
		writeFixtures(t, map[string]kctest.Delivery{
			"register": register, "verify_email": verify, "update_profile": updateProfile,
			"admin_user_create": adminCreate, "admin_user_update": adminUpdate, "admin_user_delete": adminDelete,
			"admin_user_update_writeback": writeback,
			"delete_account":              deleteAccount,
		})
	}
}

// TestProviderRetries makes the receiver answer 503 (Retry-After: 1) twice: the provider must deliver the same
// event a third time, with the same webhook-id, no sooner than the receiver asked.
func TestProviderRetries(t *testing.T) {
	recv := kctest.NewReceiver(t)
	recv.Respond(func(d kctest.Delivery) (int, http.Header) {
		if d.Attempt <= 2 {
			return http.StatusServiceUnavailable, http.Header{"Retry-After": {"1"}}
		}
		return http.StatusAccepted, nil
	})
	realm := kctest.NewRealm(t, kc, kctest.Options{WebhookURL: recv.URL, WebhookSecrets: recv.Secrets})
	id, err := realm.Admin(t).CreateUser(context.Background(), keycloak.User{Username: "retry@example.com",
		Email: "retry@example.com", Enabled: true, FirstName: "Retry"})
	if err != nil {
		t.Fatal(err)
	}
	final := recv.Wait(t, time.Minute, func(d kctest.Delivery) bool {
		return kctest.AdminUserEvent("CREATE", id)(d) && d.Status == http.StatusAccepted
	})
	var tries []kctest.Delivery
	for _, d := range recv.Deliveries() {
		if d.ID == final.ID {
			tries = append(tries, d)
		}
	}
	if len(tries) != 3 || tries[0].Status != 503 || tries[1].Status != 503 || final.Attempt != 3 {
		t.Fatalf("want 503, 503, 202 for %s; got %d deliveries", final.ID, len(tries))
	}
	for i := 1; i < len(tries); i++ {
		if gap := tries[i].Received.Sub(tries[i-1].Received); gap < 900*time.Millisecond {
			t.Errorf("attempt %d came %s after the previous one; Retry-After asked for 1s", i+1, gap)
		}
		if !bytes.Equal(tries[i].Body, tries[0].Body) {
			t.Errorf("attempt %d body differs", i+1)
		}
	}
}

func audienceHas(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		return slices.ContainsFunc(a, func(v any) bool { return v == want })
	}
	return false
}

// writeFixtures stores the bodies exactly as Keycloak sent them, indented for review (json.Indent changes
// whitespace only), plus the headers idp-hook reads.
func writeFixtures(t *testing.T, fixtures map[string]kctest.Delivery) {
	root, err := kctest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "services", "idp-hook", "testdata", "keycloak")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, d := range fixtures {
		var buf bytes.Buffer
		if err := json.Indent(&buf, d.Body, "", "  "); err != nil {
			t.Fatal(err)
		}
		buf.WriteByte('\n')
		if err := os.WriteFile(filepath.Join(dir, name+".json"), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("fixture %s: %s %s", name, d.Path, strings.TrimSpace(d.Type+" "+d.ResourceType+" "+d.OperationType))
	}
}

// TestSlowReceiverNeitherSlowsNorBreaksSignUp: the receiver takes 5 s to answer the first attempt (longer than
// the provider's 3 s test timeout). The registration page must come back before any webhook is answered, and the
// provider must retry the timed-out delivery with the same webhook-id.
func TestSlowReceiverNeitherSlowsNorBreaksSignUp(t *testing.T) {
	recv := kctest.NewReceiver(t)
	recv.Respond(func(d kctest.Delivery) (int, http.Header) {
		if d.Attempt == 1 {
			time.Sleep(5 * time.Second)
		}
		return http.StatusAccepted, nil
	})
	realm := kctest.NewRealm(t, kc, kctest.Options{WebhookURL: recv.URL, WebhookSecrets: recv.Secrets})
	start := time.Now()
	realm.SignUp(t, "slow@example.com", "Slow-Receiver-2024", "Slow")
	took := time.Since(start)
	if n := len(recv.Deliveries()); n != 0 {
		t.Fatalf("sign-up returned after %s with %d webhook(s) already answered: it waited for the receiver", took, n)
	}
	retried := recv.Wait(t, time.Minute, func(d kctest.Delivery) bool {
		return kctest.UserEvent("REGISTER", "")(d) && d.Attempt >= 2
	})
	if retried.Status != http.StatusAccepted {
		t.Fatalf("retry answered %d", retried.Status)
	}
	t.Logf("sign-up took %s; REGISTER %s delivered on attempt %d after a timeout", took, retried.ID, retried.Attempt)
}

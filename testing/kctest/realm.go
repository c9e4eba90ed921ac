package kctest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/connectedbbq/platform/pkg/keycloak"
	"github.com/connectedbbq/platform/testing/smtpsink"
)

// TestClientID is a confidential client with direct access grants that NewRealm adds to test realms only
// (never to the shipped realm), so API tests can get a real user token with a password.
const TestClientID = "kctest"

// DefaultRedirectURI is the dashboard's callback in the shipped realm.
const DefaultRedirectURI = "http://localhost:3000/login/callback"

// Options of a test realm. Zero values give the shipped realm with no webhook.
type Options struct {
	Name           string   // default: derived from the test name, unique
	WebhookURL     string   // idp-hook base URL: the realm attribute bbqWebhookUrl
	WebhookSecrets []string // whsec_ secrets: bbqWebhookSecrets
	RedirectURIs   []string // the dashboard client's redirect URIs; default DefaultRedirectURI
	// AllowDeleteAccount enables the delete_account required action and gives every new user the account
	// role delete-account, so Session.DeleteAccount can produce a real DELETE_ACCOUNT event. The shipped realm
	// leaves both off (see docs/keycloak.md).
	AllowDeleteAccount bool
	// AllowUpdateEmail enables the UPDATE_EMAIL required action, so Session.UpdateEmail can change the email the
	// way Keycloak 26 does it (a mail to the new address; the change, UPDATE_EMAIL, once it is followed). The
	// shipped realm leaves it off, and then Keycloak ignores email changes from the account API.
	AllowUpdateEmail bool
	// Realm changes the parsed realm representation before it is created.
	Realm func(rep map[string]any)
}

// Realm is one test's realm, made from deploy/keycloak/realm/bbq-realm.json.
type Realm struct {
	KC           *Keycloak
	Name         string
	Issuer       string            // e.g. http://127.0.0.1:41234/auth/realms/t-x-abc
	Mail         *smtpsink.Sink    // this realm's outgoing mail
	Secrets      map[string]string // client id -> client secret (user-service, idp-hook, tenant-controller, kctest)
	RedirectURIs []string
}

// NewRealm creates a fresh realm for t and deletes it when t ends (unless KCTEST_KEEP is set).
func NewRealm(t testing.TB, kc *Keycloak, opts Options) *Realm {
	t.Helper()
	if kc == nil {
		t.Fatal("kctest: no Keycloak; call kctest.Main from TestMain")
		return nil
	}
	sink, err := smtpsink.Start(smtpsink.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Close() })
	r := &Realm{KC: kc, Name: opts.Name, Mail: sink, RedirectURIs: opts.RedirectURIs, Secrets: map[string]string{}}
	if r.Name == "" {
		r.Name = realmName(t.Name())
	}
	if len(r.Name) > 36 {
		t.Fatalf("kctest: realm name %q is longer than 36 characters (it is also the realm id)", r.Name)
	}
	if len(r.RedirectURIs) == 0 {
		r.RedirectURIs = []string{DefaultRedirectURI}
	}
	r.Issuer = kc.URL + "/realms/" + r.Name
	rep, err := r.representation(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := kc.adminDo(ctx, http.MethodPost, "/admin/realms", rep); err != nil {
		t.Fatalf("kctest: create realm %s: %v", r.Name, err)
	}
	if opts.AllowDeleteAccount {
		if err := kc.allowDeleteAccount(ctx, r.Name); err != nil {
			t.Fatalf("kctest: allow delete account in %s: %v", r.Name, err)
		}
	}
	if opts.AllowUpdateEmail {
		if err := kc.enableRequiredAction(ctx, r.Name, "UPDATE_EMAIL"); err != nil {
			t.Fatalf("kctest: allow update email in %s: %v", r.Name, err)
		}
	}
	kc.deleteRealmAtCleanup(t, r.Name)
	return r
}

// deleteRealmAtCleanup deletes the realm when t ends, unless KCTEST_KEEP is set.
func (k *Keycloak) deleteRealmAtCleanup(t testing.TB, name string) {
	t.Cleanup(func() {
		if os.Getenv(EnvKeep) != "" {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := k.adminDo(ctx, http.MethodDelete, "/admin/realms/"+name, nil); err != nil {
			t.Logf("kctest: delete realm %s: %v", name, err)
		}
	})
}

// representation is the shipped realm JSON with its ${...} placeholders resolved for this test, the
// webhook and SMTP sink wired, and the test-only client added.
func (r *Realm) representation(opts Options) (map[string]any, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(filepath.Join(root, "deploy", "keycloak", "realm", "bbq-realm.json"))
	if err != nil {
		return nil, fmt.Errorf("read realm: %w", err)
	}
	for _, c := range []string{"user-service", "idp-hook", "tenant-controller", TestClientID} {
		r.Secrets[c] = randomToken(24)
	}
	dashboard := strings.TrimSuffix(r.RedirectURIs[0], "/login/callback")
	vars := map[string]string{
		"BBQ_DASHBOARD_URL":            dashboard,
		"BBQ_USER_SERVICE_SECRET":      r.Secrets["user-service"],
		"BBQ_IDP_HOOK_SECRET":          r.Secrets["idp-hook"],
		"BBQ_TENANT_CONTROLLER_SECRET": r.Secrets["tenant-controller"],
		"BBQ_SMTP_HOST":                r.Mail.Host(),
		"BBQ_SMTP_PORT":                fmt.Sprint(r.Mail.Port()),
		"BBQ_SMTP_FROM":                "no-reply@kctest.local",
	}
	var missing []string
	resolved := placeholderRE.ReplaceAllStringFunc(string(raw), func(m string) string {
		name := placeholderRE.FindStringSubmatch(m)[1]
		if v, ok := vars[name]; ok {
			return v
		}
		if strings.HasPrefix(name, "BBQ_") {
			missing = append(missing, name)
		}
		return m // Keycloak's own ${msg} keys, e.g. ${username} in the user profile
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("kctest: realm placeholders without a test value: %v", missing)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(resolved), &rep); err != nil {
		return nil, fmt.Errorf("parse realm: %w", err)
	}
	rep["id"] = r.Name // events carry realmId; equal to the name, as in the shipped realm
	rep["realm"] = r.Name
	rep["displayName"] = r.Name
	attrs, _ := rep["attributes"].(map[string]any)
	if attrs == nil {
		attrs = map[string]any{}
	}
	if opts.WebhookURL != "" {
		attrs["bbqWebhookUrl"] = opts.WebhookURL
		attrs["bbqWebhookSecrets"] = strings.Join(opts.WebhookSecrets, ",")
	} else {
		rep["eventsListeners"] = []string{"jboss-logging"}
	}
	rep["attributes"] = attrs
	clients, _ := rep["clients"].([]any)
	for _, c := range clients {
		if m, ok := c.(map[string]any); ok && m["clientId"] == "dashboard" {
			m["redirectUris"] = r.RedirectURIs
			m["webOrigins"] = []string{"+"}
		}
	}
	rep["clients"] = append(clients, r.testClient(clients))
	if opts.Realm != nil {
		opts.Realm(rep)
	}
	return rep, nil
}

// testClient copies the dashboard's protocol mappers (tenant claim, user-service audience) onto a confidential
// client that also allows the password grant.
func (r *Realm) testClient(clients []any) map[string]any {
	var mappers, scopes any
	for _, c := range clients {
		if m, ok := c.(map[string]any); ok && m["clientId"] == "dashboard" {
			mappers, scopes = m["protocolMappers"], m["defaultClientScopes"]
		}
	}
	client := map[string]any{
		"clientId": TestClientID, "enabled": true, "publicClient": false, "secret": r.Secrets[TestClientID],
		"directAccessGrantsEnabled": true, "standardFlowEnabled": false, "serviceAccountsEnabled": false,
		"protocol": "openid-connect", "protocolMappers": mappers,
		"description": "test-only client made by testing/kctest; never in the shipped realm",
	}
	if scopes != nil { // the organization claim's scope, say
		client["defaultClientScopes"] = scopes
	}
	return client
}

// Admin is a client for this realm authenticated as the master admin.
func (r *Realm) Admin(t testing.TB) *keycloak.Client {
	t.Helper()
	c, err := keycloak.New(keycloak.Config{BaseURL: r.KC.URL, Realm: r.Name, TokenRealm: "master",
		ClientID: "admin-cli", Username: r.KC.AdminUser, Password: r.KC.AdminPassword})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ServiceClient is a client for this realm authenticated as a shipped service account (e.g. "idp-hook"),
// with exactly the roles the realm gives it.
func (r *Realm) ServiceClient(t testing.TB, clientID string) *keycloak.Client {
	t.Helper()
	secret, ok := r.Secrets[clientID]
	if !ok {
		t.Fatalf("kctest: no secret for client %q", clientID)
	}
	c, err := keycloak.New(keycloak.Config{BaseURL: r.KC.URL, Realm: r.Name, ClientID: clientID, ClientSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enableRequiredAction turns on one of the realm's required actions (by alias).
func (k *Keycloak) enableRequiredAction(ctx context.Context, realm, alias string) error {
	path := "/admin/realms/" + realm + "/authentication/required-actions/" + alias
	var action map[string]any
	if err := k.adminJSON(ctx, http.MethodGet, path, nil, &action); err != nil {
		return err
	}
	action["enabled"] = true
	return k.adminDo(ctx, http.MethodPut, path, action)
}

func (k *Keycloak) allowDeleteAccount(ctx context.Context, realm string) error {
	base := "/admin/realms/" + realm
	if err := k.enableRequiredAction(ctx, realm, "delete_account"); err != nil {
		return err
	}
	var clients []map[string]any
	if err := k.adminJSON(ctx, http.MethodGet, base+"/clients?clientId=account", nil, &clients); err != nil {
		return fmt.Errorf("account client: %w", err)
	}
	if len(clients) == 0 {
		return errors.New("no account client")
	}
	var role, defaults map[string]any
	if err := k.adminJSON(ctx, http.MethodGet, fmt.Sprintf("%s/clients/%s/roles/delete-account", base, clients[0]["id"]), nil, &role); err != nil {
		return err
	}
	if err := k.adminJSON(ctx, http.MethodGet, base+"/roles/default-roles-"+realm, nil, &defaults); err != nil {
		return err
	}
	return k.adminDo(ctx, http.MethodPost, fmt.Sprintf("%s/roles-by-id/%s/composites", base, defaults["id"]), []any{role})
}

// AdminRequest sends one request to the admin REST API as the master admin (path from the base URL, e.g.
// "/admin/realms/x/users/id") and decodes the JSON answer into out when it is not nil.
func (k *Keycloak) AdminRequest(ctx context.Context, method, path string, in, out any) error {
	return k.adminJSON(ctx, method, path, in, out)
}

// adminDo sends one master-admin request (realm create/delete).
func (k *Keycloak) adminDo(ctx context.Context, method, path string, body any) error {
	return k.adminJSON(ctx, method, path, body, nil)
}

// adminJSON sends one master-admin request and decodes the answer into out (when not nil).
func (k *Keycloak) adminJSON(ctx context.Context, method, path string, body, out any) error {
	tok, err := k.adminToken(ctx)
	if err != nil {
		return err
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, k.URL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, data[:min(len(data), 2048)])
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

func (k *Keycloak) adminToken(ctx context.Context) (string, error) {
	k.tokenMu.Lock()
	defer k.tokenMu.Unlock()
	if k.token != "" && time.Now().Before(k.tokenExpiry) {
		return k.token, nil
	}
	tok, err := passwordGrant(ctx, k.URL+"/realms/master", "admin-cli", "", k.AdminUser, k.AdminPassword)
	if err != nil {
		return "", fmt.Errorf("kctest: admin token: %w", err)
	}
	// Renewed well before it expires, so a slow request still carries a valid token.
	k.token, k.tokenExpiry = tok.AccessToken, time.Now().Add(time.Duration(tok.ExpiresIn)*time.Second/2)
	return k.token, nil
}

var (
	placeholderRE = regexp.MustCompile(`\$\{([A-Za-z0-9_.]+)\}`)
	nameCleanRE   = regexp.MustCompile(`[^a-z0-9]+`)
)

func realmName(testName string) string {
	n := strings.Trim(nameCleanRE.ReplaceAllString(strings.ToLower(testName), "-"), "-")
	if len(n) > 26 { // the realm id is the name, and Keycloak's id columns hold 36 characters
		n = strings.TrimRight(n[:26], "-")
	}
	return "t-" + n + "-" + strings.ToLower(randomToken(4))
}

// randomToken is n random bytes, base64url without padding, alphanumeric enough for names and secrets.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.NewReplacer("-", "x", "_", "y").Replace(base64.RawURLEncoding.EncodeToString(b))
}

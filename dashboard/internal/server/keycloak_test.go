package server

// The server tests run against a real Keycloak from testing/kctest (one per test binary, a fresh realm per test
// made from the shipped deploy/keycloak/realm/bbq-realm.json), with the realm's frontend URL set to the
// dashboard's /auth proxy, as `make run` and the chart do with Keycloak's --hostname.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/connectedbbq/platform/dashboard/internal/session"
	"github.com/connectedbbq/platform/testing/kctest"
)

type keycloak struct {
	kc *kctest.Keycloak
}

// testRealm makes a realm whose public URL is dashboardURL/auth, whose `dashboard` client redirects to
// dashboardURL, and which holds one verified user (pat@example.com). It returns the realm's name.
func (k *keycloak) testRealm(t *testing.T, dashboardURL string, accessTokenLifespan int) string {
	t.Helper()
	r := kctest.NewRealm(t, k.kc, kctest.Options{
		// Short names: with the shipped realm, Keycloak refuses names of ~39 characters ("Database operation failed").
		Name:         "dash-" + session.RandomToken(6),
		RedirectURIs: []string{dashboardURL + "/login/callback"},
		Realm: func(rep map[string]any) {
			attrs, _ := rep["attributes"].(map[string]any)
			if attrs == nil {
				attrs = map[string]any{}
			}
			attrs["frontendUrl"] = dashboardURL + "/auth"
			rep["attributes"] = attrs
			rep["accessTokenLifespan"] = accessTokenLifespan
			rep["bruteForceProtected"] = false
			rep["users"] = []map[string]any{{
				"username": "pat@example.com", "email": "pat@example.com", "emailVerified": true, "enabled": true,
				"firstName": "Pat", "lastName": "Griller",
				"credentials": []map[string]any{{"type": "password", "value": "Str0ng!Passw0rd", "temporary": false}},
			}}
		},
	})
	return r.Name
}

func (k *keycloak) base() string { return k.kc.URL }

func (k *keycloak) adminToken(t *testing.T) string {
	t.Helper()
	form := url.Values{"grant_type": {"password"}, "client_id": {"admin-cli"}, "username": {k.kc.AdminUser}, "password": {k.kc.AdminPassword}}
	resp, err := http.PostForm(k.kc.URL+"/realms/master/protocol/openid-connect/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("admin token: status %d, %v", resp.StatusCode, err)
	}
	return tok.AccessToken
}

// admin calls Keycloak's admin REST API and decodes the JSON answer into out (if not nil).
func (k *keycloak) admin(t *testing.T, method, path string, body, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, k.kc.URL+"/admin"+path, rd)
	req.Header.Set("Authorization", "Bearer "+k.adminToken(t))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("admin %s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("admin %s %s: decode: %v", method, path, err)
		}
	}
}

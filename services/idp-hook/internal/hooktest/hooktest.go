// Package hooktest builds Keycloak webhooks for tests: event bodies shaped like Keycloak's
// representations, signed the way our provider signs them.
package hooktest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/connectedbbq/platform/pkg/webhook"
	"github.com/connectedbbq/platform/services/idp-hook/internal/kcevent"
)

// SecretKey is the test signing key; Secrets is its WEBHOOK_SECRETS form.
var SecretKey = []byte("test-webhook-secret-0123456789abcdef")

// Secrets returns the WEBHOOK_SECRETS value for SecretKey.
func Secrets() string { return webhook.FormatSecret(SecretKey) }

// Register is a REGISTER event of a person signing up through the form.
func Register(id, userID, email string, at time.Time) kcevent.Event {
	return kcevent.Event{ID: id, Time: at.UnixMilli(), Type: "REGISTER", RealmID: "bbq", RealmName: "bbq", ClientID: "dashboard",
		UserID: userID, IPAddress: "127.0.0.1", Details: map[string]string{
			"auth_method": "openid-connect", "register_method": "form", "username": email, "email": email,
			"first_name": "Pat", "last_name": "Griller", "redirect_uri": "http://localhost:3000/login/callback",
		}}
}

// VerifyEmail is a VERIFY_EMAIL event.
func VerifyEmail(id, userID, email string, at time.Time) kcevent.Event {
	return kcevent.Event{ID: id, Time: at.UnixMilli(), Type: "VERIFY_EMAIL", RealmID: "bbq", RealmName: "bbq", ClientID: "dashboard",
		UserID: userID, Details: map[string]string{"email": email, "action": "verify-email"}}
}

// Request is a signed webhook request body for url.
func Request(t testing.TB, url, webhookID string, body []byte, at time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	webhook.SignRequest(req.Header, []webhook.Secret{SecretKey}, webhookID, at, body)
	return req
}

// Post signs and sends v (marshalled to JSON) and returns the status code.
func Post(t testing.TB, client *http.Client, url, webhookID string, v any) int {
	t.Helper()
	body, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(Request(t, url, webhookID, body, time.Now()))
	if err != nil {
		t.Fatal(fmt.Errorf("post webhook: %w", err))
	}
	resp.Body.Close()
	return resp.StatusCode
}

package keycloak

import (
	"context"
	"encoding/base64"
	"testing"
	"time"

	"github.com/connectedbbq/platform/testing/kctest"
)

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// newOtherRealmToken is a real user token of a second realm of the same Keycloak.
func newOtherRealmToken(t *testing.T) string {
	t.Helper()
	other := kctest.NewRealm(t, kc, kctest.Options{})
	other.SignUp(t, "mallory@example.com", password, "Mallory").FollowVerification(t)
	return other.PasswordToken(t, "mallory@example.com", password).AccessToken
}

// expiredToken is a real token of the test's realm that has expired: the realm's access token
// lifespan is cut to one second for it.
func expiredToken(t *testing.T, e *env) string {
	t.Helper()
	setLifespan(t, e, 1)
	defer setLifespan(t, e, 300)
	tok := e.realm.PasswordToken(t, "ada@example.com", password)
	time.Sleep(2500 * time.Millisecond)
	return tok.AccessToken
}

func setLifespan(t *testing.T, e *env, seconds int) {
	t.Helper()
	if err := e.realm.KC.UpdateRealm(context.Background(), e.realm.Name, map[string]any{"accessTokenLifespan": seconds}); err != nil {
		t.Fatalf("set access token lifespan: %v", err)
	}
}

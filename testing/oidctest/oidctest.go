// Package oidctest is a local OpenID Connect issuer for tests that cannot start Keycloak: it serves
// discovery and a JWKS, and signs real RS256 JWTs with the claims a test asks for, including the
// malformed and hostile ones (alg none, HS256 with the public key, expired, wrong audience).
package oidctest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Issuer is a running test issuer.
type Issuer struct {
	URL string
	key *rsa.PrivateKey
	kid string
}

// New starts an issuer for t.
func New(t testing.TB) *Issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	iss := &Issuer{key: key, kid: "test-key-1"}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	iss.URL = srv.URL + "/realms/test"
	mux.HandleFunc("GET /realms/test/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": iss.URL, "jwks_uri": iss.URL + "/certs", "authorization_endpoint": iss.URL + "/auth",
			"token_endpoint": iss.URL + "/token", "id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /realms/test/certs", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: iss.kid, Algorithm: "RS256", Use: "sig"}}})
	})
	return iss
}

// Claims of a token; zero values are filled with valid defaults by Token.
type Claims map[string]any

// Defaults returns valid claims for subject and tenant, audience "user-service", valid for 5 minutes.
func (i *Issuer) Defaults(subject, tenant string) Claims {
	c := Claims{"iss": i.URL, "sub": subject, "aud": "user-service", "azp": "dashboard",
		"iat": time.Now().Unix(), "exp": time.Now().Add(5 * time.Minute).Unix()}
	if tenant != "" {
		c["tenant"] = tenant
	}
	return c
}

// Token signs claims with the issuer's key (RS256).
func (i *Issuer) Token(t testing.TB, c Claims) string {
	t.Helper()
	return sign(t, i.key, i.kid, c)
}

// TokenFromOtherKey signs with a key the issuer never published, with the issuer's key id.
func (i *Issuer) TokenFromOtherKey(t testing.TB, c Claims) string {
	t.Helper()
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return sign(t, other, i.kid, c)
}

// UnsignedToken is an "alg": "none" token.
func (i *Issuer) UnsignedToken(t testing.TB, c Claims) string {
	t.Helper()
	return rawJWT(t, map[string]string{"alg": "none", "typ": "JWT"}, c) + "."
}

// HS256WithPublicKey is the RS/HS confusion attack: an HMAC signature keyed with the public key.
func (i *Issuer) HS256WithPublicKey(t testing.TB, c Claims) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&i.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	signing := rawJWT(t, map[string]string{"alg": "HS256", "typ": "JWT", "kid": i.kid}, c)
	mac := hmac.New(sha256.New, pub)
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func rawJWT(t testing.TB, header map[string]string, c Claims) string {
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	p, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
}

func sign(t testing.TB, key *rsa.PrivateKey, kid string, c Claims) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

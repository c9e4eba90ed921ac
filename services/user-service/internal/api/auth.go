package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/coreos/go-oidc/v3/oidc"
)

// OIDCConfig says which tokens the API accepts.
type OIDCConfig struct {
	Issuer       string   // must equal the token's iss (the public URL of the realm)
	DiscoveryURL string   // where this service reaches the issuer; defaults to Issuer
	Audience     string   // must be in the token's aud
	Algorithms   []string // accepted signing algorithms; never "none"
}

// Authenticator verifies bearer tokens with go-oidc: signature against the issuer's JWKS,
// issuer, audience, expiry and algorithm. Discovery happens on first use and is retried until it
// succeeds, so the service starts before its IdP.
type Authenticator struct {
	cfg      OIDCConfig
	client   *http.Client
	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier
}

// NewAuthenticator returns an Authenticator; client is used for discovery and JWKS.
func NewAuthenticator(cfg OIDCConfig, client *http.Client) *Authenticator {
	if cfg.DiscoveryURL == "" {
		cfg.DiscoveryURL = cfg.Issuer
	}
	return &Authenticator{cfg: cfg, client: client}
}

// Errors of Authenticate.
var (
	ErrNoToken      = errors.New("no bearer token")
	ErrIdPUnreached = errors.New("identity provider unreachable")
)

// tokenClaims are the claims the API uses beyond the verified standard ones.
type tokenClaims struct {
	Tenant string `json:"tenant"`
}

// Identity is a verified caller.
type Identity struct {
	Subject string
	Tenant  string
}

// Authenticate verifies the request's bearer token.
func (a *Authenticator) Authenticate(r *http.Request) (Identity, error) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || raw == "" {
		return Identity{}, ErrNoToken
	}
	v, err := a.verifierFor(r.Context())
	if err != nil {
		return Identity{}, err
	}
	tok, err := v.Verify(r.Context(), raw)
	if err != nil {
		return Identity{}, fmt.Errorf("invalid token: %w", err)
	}
	var c tokenClaims
	if err := tok.Claims(&c); err != nil {
		return Identity{}, fmt.Errorf("invalid token claims: %w", err)
	}
	return Identity{Subject: tok.Subject, Tenant: c.Tenant}, nil
}

// Ready reports whether discovery has succeeded (or succeeds now).
func (a *Authenticator) Ready(ctx context.Context) error {
	_, err := a.verifierFor(ctx)
	return err
}

func (a *Authenticator) verifierFor(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.verifier != nil {
		return a.verifier, nil
	}
	// The issuer in tokens is the public URL; discovery goes to the internal one.
	dctx := oidc.ClientContext(context.WithoutCancel(ctx), a.client)
	if a.cfg.DiscoveryURL != a.cfg.Issuer {
		dctx = oidc.InsecureIssuerURLContext(dctx, a.cfg.Issuer)
	}
	p, err := oidc.NewProvider(dctx, a.cfg.DiscoveryURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIdPUnreached, err)
	}
	keys := oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), a.client), jwksURL(p))
	a.verifier = oidc.NewVerifier(a.cfg.Issuer, keys, &oidc.Config{ClientID: a.cfg.Audience, SupportedSigningAlgs: a.cfg.Algorithms})
	return a.verifier, nil
}

// jwksURL is the provider's key set. Keycloak, started with --hostname-backchannel-dynamic,
// advertises it on the host that discovery used, which this service can reach.
func jwksURL(p *oidc.Provider) string {
	var doc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	_ = p.Claims(&doc)
	return doc.JWKSURI
}

package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// discovery is the part of the OpenID provider metadata the server uses.
type discovery struct {
	Issuer             string   `json:"issuer"`
	AuthURL            string   `json:"authorization_endpoint"`
	TokenURL           string   `json:"token_endpoint"`
	JWKSURL            string   `json:"jwks_uri"`
	UserInfoURL        string   `json:"userinfo_endpoint"`
	EndSessionURL      string   `json:"end_session_endpoint"`
	Algorithms         []string `json:"id_token_signing_alg_values_supported"`
	CodeChallengeTypes []string `json:"code_challenge_methods_supported"`
}

// oidcClient is the relying party. Keycloak names itself by its public URL (through the dashboard's /auth
// proxy), while the server talks to it on its internal address: discovery is fetched from the internal
// issuer, the issuer is checked against the public one, and the server-to-server endpoints (token, JWKS)
// are rewritten onto the internal base. The browser-facing ones (authorize, logout) stay public.
type oidcClient struct {
	publicIssuer   string
	internalIssuer string
	publicBase     string
	internalBase   string
	clientID       string
	redirectURL    string
	scopes         []string
	httpClient     *http.Client

	mu       sync.Mutex
	ready    *oidcReady
	lastFail error
}

type oidcReady struct {
	oauth2        *oauth2.Config
	verifier      *oidc.IDTokenVerifier
	endSessionURL string
	registerURL   string
}

// get returns the discovered configuration, discovering it on first use; Keycloak may start after us.
func (c *oidcClient) get(ctx context.Context) (*oidcReady, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ready != nil {
		return c.ready, nil
	}
	r, err := c.discover(ctx)
	if err != nil {
		c.lastFail = err
		return nil, err
	}
	c.ready, c.lastFail = r, nil
	return r, nil
}

func (c *oidcClient) discover(ctx context.Context) (*oidcReady, error) {
	d, err := c.fetchDiscovery(ctx)
	if err != nil {
		return nil, err
	}
	if d.Issuer != c.publicIssuer {
		return nil, fmt.Errorf("discovery at %s names issuer %q, want OIDC_ISSUER %q (set Keycloak's hostname or the realm frontend URL)",
			c.internalIssuer, d.Issuer, c.publicIssuer)
	}
	pc := oidc.ProviderConfig{
		IssuerURL: d.Issuer, AuthURL: d.AuthURL, TokenURL: c.backchannel(d.TokenURL),
		JWKSURL: c.backchannel(d.JWKSURL), UserInfoURL: c.backchannel(d.UserInfoURL), Algorithms: d.Algorithms,
	}
	provider := pc.NewProvider(oidc.ClientContext(ctx, c.httpClient))
	return &oidcReady{
		oauth2: &oauth2.Config{
			ClientID: c.clientID, Endpoint: oauth2.Endpoint{AuthURL: d.AuthURL, TokenURL: pc.TokenURL, AuthStyle: oauth2.AuthStyleInParams},
			RedirectURL: c.redirectURL, Scopes: c.scopes,
		},
		verifier:      provider.VerifierContext(oidc.ClientContext(context.WithoutCancel(ctx), c.httpClient), &oidc.Config{ClientID: c.clientID}),
		endSessionURL: d.EndSessionURL,
		// Keycloak's registration page for an OIDC client is the authorization endpoint's sibling.
		registerURL: strings.TrimSuffix(d.AuthURL, "/auth") + "/registrations",
	}, nil
}

func (c *oidcClient) fetchDiscovery(ctx context.Context) (*discovery, error) {
	u := strings.TrimRight(c.internalIssuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("discovery request: %w", err)
	}
	resp, err := c.httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("discovery %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("discovery %s: status %d", u, resp.StatusCode)
	}
	var d discovery
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		return nil, fmt.Errorf("discovery %s: %w", u, err)
	}
	return &d, nil
}

// backchannel moves a public Keycloak URL onto the internal base; other URLs are kept.
func (c *oidcClient) backchannel(u string) string {
	if rest, ok := strings.CutPrefix(u, c.publicBase); ok {
		return c.internalBase + rest
	}
	return u
}

// ctx returns a context whose oauth2/go-oidc HTTP calls use the server's client.
func (c *oidcClient) ctx(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c.httpClient)
}

// Package keycloak is a small client for the parts of Keycloak's admin REST API the platform uses: users and
// their attributes, stored user and admin events, and groups. It authenticates with a service account
// (client credentials) or, for tools and tests, a password grant, and renews its token before it expires.
package keycloak

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Errors to test for with errors.Is; every failed call returns an *APIError that matches one of them
// when its status does.
var (
	ErrNotFound     = errors.New("keycloak: not found")
	ErrUnauthorized = errors.New("keycloak: unauthorized or forbidden")
	ErrConflict     = errors.New("keycloak: conflict")
)

// APIError is a non-2xx answer.
type APIError struct {
	Method string
	Path   string
	Status int
	Body   string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("keycloak: %s %s: HTTP %d: %s", e.Method, e.Path, e.Status, e.Body)
}

// Is maps statuses onto the sentinel errors.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
	case ErrConflict:
		return e.Status == http.StatusConflict
	}
	return false
}

// Config of a Client.
type Config struct {
	// BaseURL of Keycloak including its relative path, e.g. http://localhost:8080/auth.
	BaseURL string
	// Realm whose users and events are managed.
	Realm string
	// TokenRealm is the realm the client authenticates in; default Realm ("master" for admin-cli).
	TokenRealm string
	// ClientID and ClientSecret of a confidential client with a service account (client credentials).
	ClientID     string
	ClientSecret string
	// Username and Password switch to the password grant (admin-cli in master, for tests and tools).
	Username string
	Password string
	// HTTPClient defaults to one with a 15 s timeout.
	HTTPClient *http.Client
}

// Validate reports what is missing.
func (c Config) Validate() error {
	var errs []error
	if _, err := url.ParseRequestURI(c.BaseURL); err != nil || c.BaseURL == "" {
		errs = append(errs, fmt.Errorf("keycloak: BaseURL %q is not a URL", c.BaseURL))
	}
	if c.Realm == "" {
		errs = append(errs, errors.New("keycloak: Realm is required"))
	}
	if c.ClientID == "" {
		errs = append(errs, errors.New("keycloak: ClientID is required"))
	}
	if c.Username == "" && c.ClientSecret == "" {
		errs = append(errs, errors.New("keycloak: ClientSecret (or Username and Password) is required"))
	}
	return errors.Join(errs...)
}

// Client talks to one realm. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base string
	http *http.Client

	mu     sync.Mutex
	token  string
	expiry time.Time
}

// New returns a Client; it fetches its first token on the first call.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.TokenRealm == "" {
		cfg.TokenRealm = cfg.Realm
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	return &Client{cfg: cfg, base: strings.TrimRight(cfg.BaseURL, "/"), http: cfg.HTTPClient}, nil
}

// Realm is the managed realm.
func (c *Client) Realm() string { return c.cfg.Realm }

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

// accessToken returns a cached token, renewing it 30 s (or a third of its life) before expiry.
func (c *Client) accessToken(ctx context.Context, force bool) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !force && c.token != "" && time.Now().Before(c.expiry) {
		return c.token, nil
	}
	form := url.Values{"client_id": {c.cfg.ClientID}}
	if c.cfg.Username != "" {
		form.Set("grant_type", "password")
		form.Set("username", c.cfg.Username)
		form.Set("password", c.cfg.Password)
	} else {
		form.Set("grant_type", "client_credentials")
	}
	if c.cfg.ClientSecret != "" {
		form.Set("client_secret", c.cfg.ClientSecret)
	}
	endpoint := c.base + "/realms/" + url.PathEscape(c.cfg.TokenRealm) + "/protocol/openid-connect/token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("keycloak: token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var tr tokenResponse
	if err := c.do(req, &tr); err != nil {
		return "", fmt.Errorf("keycloak: token for %s: %w", c.cfg.ClientID, err)
	}
	life := time.Duration(tr.ExpiresIn) * time.Second
	margin := min(30*time.Second, life/3)
	c.token, c.expiry = tr.AccessToken, time.Now().Add(life-margin)
	return c.token, nil
}

// call sends an authenticated admin request for the realm; path starts with "/". A 401 renews the token
// once (it may have been revoked or the server restarted).
func (c *Client) call(ctx context.Context, method, path string, query url.Values, in, out any) (http.Header, error) {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return nil, fmt.Errorf("keycloak: encode %s %s: %w", method, path, err)
		}
	}
	if hasDotSegment(path) { // an id of "." or ".." would address another resource than the one meant
		return nil, fmt.Errorf("keycloak: %s %s: a path segment is \".\" or \"..\"", method, path)
	}
	endpoint := c.base + "/admin/realms/" + url.PathEscape(c.cfg.Realm) + path
	if len(query) > 0 {
		endpoint += "?" + query.Encode()
	}
	for attempt := 0; ; attempt++ {
		tok, err := c.accessToken(ctx, attempt > 0)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, method, endpoint, bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("keycloak: %s %s: %w", method, path, err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", "application/json")
		if in != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		var h http.Header
		err = c.doHeader(req, out, &h)
		var apiErr *APIError
		if attempt == 0 && errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized {
			continue
		}
		return h, err
	}
}

func hasDotSegment(path string) bool {
	for seg := range strings.SplitSeq(path, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

func (c *Client) do(req *http.Request, out any) error { return c.doHeader(req, out, nil) }

func (c *Client) doHeader(req *http.Request, out any, h *http.Header) error {
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("keycloak: %s %s: %w", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	if h != nil {
		*h = resp.Header
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("keycloak: %s %s: read body: %w", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &APIError{Method: req.Method, Path: req.URL.Path, Status: resp.StatusCode,
			Body: strings.TrimSpace(string(data[:min(len(data), 512)]))}
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("keycloak: %s %s: decode: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

// createdID reads the id from a 201's Location header.
func createdID(h http.Header) (string, error) {
	loc := h.Get("Location")
	if i := strings.LastIndex(loc, "/"); i >= 0 && i < len(loc)-1 {
		return loc[i+1:], nil
	}
	return "", fmt.Errorf("keycloak: created, but no id in Location %q", loc)
}

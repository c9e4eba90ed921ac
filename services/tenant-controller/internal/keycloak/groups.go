// Package keycloak is the small part of Keycloak's admin REST API the tenant controller needs: one group
// per tenant, managed by a confidential client's service account (client credentials grant).
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
	"path"
	"strings"
	"sync"
	"time"
)

// Config says where Keycloak is and how the controller signs in.
type Config struct {
	URL          string // base URL including the relative path, e.g. http://keycloak:8080/auth
	Realm        string
	ClientID     string
	ClientSecret string
}

// Groups manages the tenant groups of one realm.
type Groups struct {
	cfg  Config
	http *http.Client

	mu      sync.Mutex
	token   string
	expires time.Time
}

// NewGroups returns a groups client.
func NewGroups(cfg Config, hc *http.Client) *Groups {
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	return &Groups{cfg: cfg, http: hc}
}

type group struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name"`
}

// EnsureGroup returns the id of the top-level group name, creating it when missing.
func (g *Groups) EnsureGroup(ctx context.Context, name string) (string, error) {
	id, err := g.find(ctx, name)
	if err != nil || id != "" {
		return id, err
	}
	body, _ := json.Marshal(group{Name: name})
	resp, err := g.call(ctx, http.MethodPost, g.admin("groups"), body)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusCreated:
		if loc := resp.Header.Get("Location"); loc != "" {
			return path.Base(loc), nil
		}
	case http.StatusConflict: // created concurrently: look it up again
	default:
		return "", statusError("create group", resp)
	}
	id, err = g.find(ctx, name)
	if err == nil && id == "" {
		err = fmt.Errorf("group %q missing after create", name)
	}
	return id, err
}

// DeleteGroup removes the top-level group name; a missing group is not an error.
func (g *Groups) DeleteGroup(ctx context.Context, name string) error {
	id, err := g.find(ctx, name)
	if err != nil || id == "" {
		return err
	}
	resp, err := g.call(ctx, http.MethodDelete, g.admin("groups/"+url.PathEscape(id)), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusNotFound {
		return statusError("delete group", resp)
	}
	return nil
}

func (g *Groups) find(ctx context.Context, name string) (string, error) {
	q := url.Values{"search": {name}, "exact": {"true"}, "briefRepresentation": {"true"}}
	resp, err := g.call(ctx, http.MethodGet, g.admin("groups")+"?"+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", statusError("search groups", resp)
	}
	var found []group
	if err := json.NewDecoder(resp.Body).Decode(&found); err != nil {
		return "", fmt.Errorf("decode groups: %w", err)
	}
	for _, gr := range found { // search also matches subgroups' parents; keep exact top-level names only
		if gr.Name == name {
			return gr.ID, nil
		}
	}
	return "", nil
}

func (g *Groups) admin(p string) string {
	return g.cfg.URL + "/admin/realms/" + url.PathEscape(g.cfg.Realm) + "/" + p
}

func (g *Groups) call(ctx context.Context, method, u string, body []byte) (*http.Response, error) {
	tok, err := g.accessToken(ctx)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build %s %s: %w", method, u, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := g.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	if resp.StatusCode == http.StatusUnauthorized { // token revoked or expired early: fetch anew next time
		g.mu.Lock()
		g.token = ""
		g.mu.Unlock()
	}
	return resp, nil
}

func (g *Groups) accessToken(ctx context.Context) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.token != "" && time.Now().Before(g.expires) {
		return g.token, nil
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {g.cfg.ClientID},
		"client_secret": {g.cfg.ClientSecret}}
	u := g.cfg.URL + "/realms/" + url.PathEscape(g.cfg.Realm) + "/protocol/openid-connect/token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("build token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := g.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("token request: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", statusError("token request", resp)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
		return "", fmt.Errorf("decode token: %w", err)
	}
	if tok.AccessToken == "" {
		return "", errors.New("token response without access_token")
	}
	g.token = tok.AccessToken
	// Renew a little early so a request never carries a token that expires in flight.
	g.expires = time.Now().Add(time.Duration(tok.ExpiresIn)*time.Second - 10*time.Second)
	return g.token, nil
}

func statusError(what string, resp *http.Response) error {
	detail, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return fmt.Errorf("%s: %s: %s", what, resp.Status, bytes.TrimSpace(detail))
}

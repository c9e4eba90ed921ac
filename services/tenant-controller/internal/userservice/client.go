// Package userservice is a client of the user service's admin API (services/user-service/api/admin-openapi.yaml,
// its types in pkg/adminapi).
package userservice

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

	"github.com/connectedbbq/platform/pkg/adminapi"
)

// Errors of the admin API's 409 answers. Every 409 is ErrConflict; ErrPersonalTenant and ErrHasMembers
// say which conflict it is (the answer's problem type).
var (
	// ErrConflict: the user service refuses the tenant as it stands (e.g. an email domain another tenant claims).
	ErrConflict = errors.New("conflict")
	// ErrPersonalTenant: the id is a personal tenant's, which a Tenant resource cannot take.
	ErrPersonalTenant = errors.New("the id is a personal tenant's")
	// ErrHasMembers: the tenant still has members, so it is not deleted.
	ErrHasMembers = errors.New("the tenant still has members")
)

// Client calls the admin API with a bearer token.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// New returns a client of the admin API at base (e.g. http://user-service-admin:8081).
func New(base, token string, hc *http.Client) *Client {
	return &Client{base: strings.TrimRight(base, "/"), token: token, http: hc}
}

// PutTenant creates or replaces the tenant id.
func (c *Client) PutTenant(ctx context.Context, id string, t adminapi.TenantSpec) error {
	body, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("encode tenant: %w", err)
	}
	return c.do(ctx, http.MethodPut, id, body, http.StatusOK, http.StatusCreated, http.StatusNoContent)
}

// DeleteTenant removes the tenant id; a tenant that is already gone is not an error.
func (c *Client) DeleteTenant(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, id, nil, http.StatusOK, http.StatusAccepted, http.StatusNoContent,
		http.StatusNotFound)
}

func (c *Client) do(ctx context.Context, method, id string, body []byte, ok ...int) error {
	u := c.base + adminapi.TenantsPath + url.PathEscape(id)
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build %s %s: %w", method, u, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer func() { _ = resp.Body.Close() }()
	detail, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	for _, code := range ok {
		if resp.StatusCode == code {
			return nil
		}
	}
	err = fmt.Errorf("%s %s: %s: %s", method, u, resp.Status, bytes.TrimSpace(detail))
	if resp.StatusCode == http.StatusConflict {
		return fmt.Errorf("%w: %w", conflict(detail), err)
	}
	return err
}

// conflict is the error of a 409 answer, by its problem type.
func conflict(body []byte) error {
	var p struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(body, &p)
	switch p.Type {
	case adminapi.ProblemPersonalTenant:
		return fmt.Errorf("%w: %w", ErrConflict, ErrPersonalTenant)
	case adminapi.ProblemHasMembers:
		return fmt.Errorf("%w: %w", ErrConflict, ErrHasMembers)
	}
	return ErrConflict
}

// Package api is the user service's public REST API (api/openapi.yaml): the caller's profile and
// their tenant's members, for bearer tokens issued by the realm.
package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/connectedbbq/platform/services/user-service/internal/personname"
	"github.com/connectedbbq/platform/services/user-service/internal/store"
)

// Store is what the API reads and writes.
type Store interface {
	Me(ctx context.Context, c store.Caller) (store.Profile, error)
	Tenant(ctx context.Context, c store.Caller) (store.TenantView, error)
	Members(ctx context.Context, c store.Caller, pageSize int, after *store.Cursor) ([]store.Profile, *store.Cursor, error)
	UpdateName(ctx context.Context, c store.Caller, name string) (store.Profile, error)
}

// API serves /v1.
type API struct {
	auth  *Authenticator
	store Store
	log   *slog.Logger
}

// New returns the API.
func New(auth *Authenticator, s Store, log *slog.Logger) *API {
	return &API{auth: auth, store: s, log: log}
}

// Mount adds the routes to mux.
func (a *API) Mount(mux *http.ServeMux) {
	mux.Handle("GET /v1/me", a.authed(a.getMe))
	mux.Handle("PATCH /v1/me", a.authed(a.patchMe))
	mux.Handle("GET /v1/tenant", a.authed(a.tenantOnly(a.getTenant)))
	mux.Handle("GET /v1/tenant/members", a.authed(a.tenantOnly(a.listMembers)))
}

type handler func(w http.ResponseWriter, r *http.Request, c store.Caller) error

// authed verifies the token and turns errors into problem documents.
func (a *API) authed(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := a.auth.Authenticate(r)
		switch {
		case errors.Is(err, ErrIdPUnreached):
			a.log.Warn("cannot verify tokens", "error", err)
			writeProblem(w, problem{Status: http.StatusServiceUnavailable, Title: "Identity provider unavailable", Detail: "try again shortly"})
			return
		case err != nil:
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			writeProblem(w, problem{Status: http.StatusUnauthorized, Title: "Unauthorized", Detail: err.Error()})
			return
		}
		if err := h(w, r, store.Caller{UserID: id.Subject, TenantID: id.Tenant}); err != nil {
			a.fail(w, r, err)
		}
	})
}

// tenantOnly requires the token's tenant claim to be the caller's tenant and the caller to be
// its admin for member listings.
func (a *API) tenantOnly(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, c store.Caller) error {
		if c.TenantID == "" {
			return problem{Status: http.StatusForbidden, Type: "urn:bbq:problem:no-tenant-claim", Title: "No tenant in token",
				Detail: "the token was issued before the tenant was assigned; refresh it"}
		}
		me, err := a.store.Me(r.Context(), store.Caller{UserID: c.UserID})
		if err != nil {
			return err
		}
		if me.Status != "active" || me.TenantID != c.TenantID {
			return problem{Status: http.StatusForbidden, Title: "Forbidden", Detail: "the token's tenant is not the caller's tenant"}
		}
		if r.URL.Path == "/v1/tenant/members" && me.Role != "admin" {
			return problem{Status: http.StatusForbidden, Title: "Forbidden", Detail: "only the tenant's admins list its members"}
		}
		return h(w, r, c)
	}
}

func (a *API) getMe(w http.ResponseWriter, r *http.Request, c store.Caller) error {
	// The own row is readable without a tenant claim: a token issued just after sign-up has none yet.
	p, err := a.store.Me(r.Context(), store.Caller{UserID: c.UserID, TenantID: c.TenantID})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (a *API) patchMe(w http.ResponseWriter, r *http.Request, c store.Caller) error {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(ct, "application/merge-patch+json") {
		return problem{Status: http.StatusUnsupportedMediaType, Title: "Unsupported media type", Detail: "send application/json"}
	}
	var body struct {
		Name *string `json:"name"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return problem{Status: http.StatusBadRequest, Title: "Invalid body", Detail: err.Error()}
	}
	if body.Name == nil {
		return problem{Status: http.StatusBadRequest, Title: "Invalid body", Detail: `"name" is required`}
	}
	name := strings.TrimSpace(*body.Name)
	// Keycloak's rule, so that the write-back never meets a name Keycloak refuses.
	if err := personname.Check(name); err != nil {
		return problem{Status: http.StatusUnprocessableEntity, Title: "Invalid name", Detail: err.Error()}
	}
	p, err := a.store.UpdateName(r.Context(), c, name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (a *API) getTenant(w http.ResponseWriter, r *http.Request, c store.Caller) error {
	t, err := a.store.Tenant(r.Context(), c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (a *API) listMembers(w http.ResponseWriter, r *http.Request, c store.Caller) error {
	q := r.URL.Query()
	size := 20
	if s := q.Get("pageSize"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			return problem{Status: http.StatusBadRequest, Title: "Invalid pageSize", Detail: "pageSize must be 1..100"}
		}
		size = n
	}
	var after *store.Cursor
	if tok := q.Get("pageToken"); tok != "" {
		cur, err := decodeCursor(tok)
		if err != nil {
			return problem{Status: http.StatusBadRequest, Title: "Invalid pageToken", Detail: "use the nextPageToken of the previous page"}
		}
		after = cur
	}
	members, next, err := a.store.Members(r.Context(), c, size, after)
	if err != nil {
		return err
	}
	resp := struct {
		Members       []store.Profile `json:"members"`
		NextPageToken string          `json:"nextPageToken,omitempty"`
	}{Members: members}
	if resp.Members == nil {
		resp.Members = []store.Profile{}
	}
	if next != nil {
		resp.NextPageToken = encodeCursor(*next)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func encodeCursor(c store.Cursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (*store.Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	var c store.Cursor
	if err := json.Unmarshal(b, &c); err != nil || c.UserID == "" || c.ActivatedAt.IsZero() {
		return nil, errors.New("bad cursor")
	}
	return &c, nil
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var p problem
	switch {
	case errors.As(err, &p):
	case errors.Is(err, store.ErrNotFound):
		p = problem{Status: http.StatusNotFound, Title: "Not found", Detail: "no active user for this token"}
	default:
		a.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		p = problem{Status: http.StatusServiceUnavailable, Title: "Temporarily unavailable", Detail: "try again shortly"}
	}
	writeProblem(w, p)
}

// problem is an RFC 9457 problem document.
type problem struct {
	Type   string `json:"type,omitempty"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
}

func (p problem) Error() string { return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail) }

func writeProblem(w http.ResponseWriter, p problem) {
	if p.Type == "" {
		p.Type = "about:blank"
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

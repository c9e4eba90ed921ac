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
	"unicode/utf8"

	"github.com/connectedbbq/platform/services/user-service/internal/domain"
	"github.com/connectedbbq/platform/services/user-service/internal/personname"
	"github.com/connectedbbq/platform/services/user-service/internal/store"
)

// Store is what the API reads and writes.
type Store interface {
	Me(ctx context.Context, c store.Caller) (store.Profile, error)
	Tenant(ctx context.Context, c store.Caller) (store.TenantView, error)
	Members(ctx context.Context, c store.Caller, pageSize int, after *store.Cursor) ([]store.Profile, *store.Cursor, error)
	UpdateName(ctx context.Context, c store.Caller, name string) (store.Profile, error)
	Role(ctx context.Context, c store.Caller) (string, error)
	MyTenants(ctx context.Context, c store.Caller) ([]store.MyTenant, error)
	ChangeRole(ctx context.Context, c store.Caller, target, role string) (store.Profile, error)
	RemoveMember(ctx context.Context, c store.Caller, target string) error
	Leave(ctx context.Context, c store.Caller) error
	tenantStore
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
	mux.Handle("GET /v1/me/tenants", a.authed(a.listMyTenants))
	mux.Handle("GET /v1/tenant", a.authed(a.tenantOnly(a.getTenant)))
	mux.Handle("PATCH /v1/tenant", a.authed(a.tenantOnly(a.patchTenant)))
	mux.Handle("DELETE /v1/tenant", a.authed(a.tenantOnly(a.deleteTenant)))
	mux.Handle("PUT /v1/me/default-tenant", a.authed(a.putDefaultTenant))
	mux.Handle("GET /v1/tenant/members", a.authed(a.tenantOnly(a.listMembers)))
	mux.Handle("PATCH /v1/tenant/members/{userId}", a.authed(a.tenantOnly(a.patchMember)))
	mux.Handle("DELETE /v1/tenant/members/{userId}", a.authed(a.tenantOnly(a.deleteMember)))
	mux.Handle("POST /v1/tenant/leave", a.authed(a.tenantOnly(a.leave)))
	a.mountInvitations(mux)
}

// TenantHeader names the active tenant of a request; without it, the token's tenant claim does. Either way
// the caller must belong to it, checked in the database on every request.
const TenantHeader = "X-Tenant-ID"

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
		tenant := id.Tenant
		if h := strings.TrimSpace(r.Header.Get(TenantHeader)); h != "" {
			tenant = h
		}
		if !utf8.ValidString(tenant) { // no tenant has such an id, and Postgres refuses the bytes
			writeProblem(w, refusal(store.ErrNotInTenant))
			return
		}
		if err := h(w, r, store.Caller{UserID: id.Subject, TenantID: tenant}); err != nil {
			a.fail(w, r, err)
		}
	})
}

// tenantOnly requires the caller to belong to the request's active tenant now: a member removed a moment
// ago is refused although their token still names the tenant.
func (a *API) tenantOnly(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, c store.Caller) error {
		if c.TenantID == "" {
			return problem{Status: http.StatusForbidden, Type: "urn:bbq:problem:no-tenant-claim", Title: "No tenant in token",
				Detail: "the token was issued before the tenant was assigned; refresh it"}
		}
		if _, err := a.store.Role(r.Context(), c); err != nil {
			return err
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
	var body struct {
		Name *string `json:"name"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return err
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

// decodeJSON reads a small JSON (or merge-patch) body into v, refusing unknown fields.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(ct, "application/merge-patch+json") {
		return problem{Status: http.StatusUnsupportedMediaType, Title: "Unsupported media type", Detail: "send application/json"}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return problem{Status: http.StatusBadRequest, Title: "Invalid body", Detail: err.Error()}
	}
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

func (a *API) listMyTenants(w http.ResponseWriter, r *http.Request, c store.Caller) error {
	ts, err := a.store.MyTenants(r.Context(), c)
	if err != nil {
		return err
	}
	if ts == nil {
		ts = []store.MyTenant{}
	}
	writeJSON(w, http.StatusOK, struct {
		Tenants []store.MyTenant `json:"tenants"`
	}{ts})
	return nil
}

// targetOf is the member a request names: a path that is not UTF-8 names nobody.
func targetOf(r *http.Request) (string, error) {
	id := r.PathValue("userId")
	if !storable(id) {
		return "", refusal(domain.ErrNotMember)
	}
	return id, nil
}

// storable says whether Postgres text can hold s: valid UTF-8 without NUL. An id it cannot hold names nothing
// we store, and must not reach a query (SQLSTATE 22021 would be a 503 instead of the caller's error).
func storable(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

func (a *API) patchMember(w http.ResponseWriter, r *http.Request, c store.Caller) error {
	target, err := targetOf(r)
	if err != nil {
		return err
	}
	var body struct {
		Role *string `json:"role"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.Role == nil || *body.Role == "" {
		return problem{Status: http.StatusUnprocessableEntity, Title: "Invalid role", Detail: `"role" is required`}
	}
	p, err := a.store.ChangeRole(r.Context(), c, target, *body.Role)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// deleteMember removes a member; removing oneself is leaving.
func (a *API) deleteMember(w http.ResponseWriter, r *http.Request, c store.Caller) error {
	target, err := targetOf(r)
	if err != nil {
		return err
	}
	if target != c.UserID {
		if err := a.store.RemoveMember(r.Context(), c, target); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return a.leave(w, r, c)
}

func (a *API) leave(w http.ResponseWriter, r *http.Request, c store.Caller) error {
	if err := a.store.Leave(r.Context(), c); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
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
	if err := json.Unmarshal(b, &c); err != nil || c.UserID == "" || c.JoinedAt.IsZero() {
		return nil, errors.New("bad cursor")
	}
	return &c, nil
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var p problem
	switch {
	case errors.As(err, &p):
	case refusal(err).Status != 0:
		p = refusal(err)
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

// Package admin is the user service's operator API on its own port: declared tenants, used by
// the Kubernetes tenant controller. It is authenticated with a shared bearer token. Its contract is
// api/admin-openapi.yaml, its wire types pkg/adminapi (shared with the controller).
package admin

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strings"

	"github.com/connectedbbq/platform/pkg/adminapi"
	"github.com/connectedbbq/platform/services/user-service/internal/store"
)

// API serves /admin/v1.
type API struct {
	token []byte
	store *store.Store
	log   *slog.Logger
}

// New returns the admin API.
func New(token string, s *store.Store, log *slog.Logger) *API {
	return &API{token: []byte(token), store: s, log: log}
}

// Mount adds the routes.
func (a *API) Mount(mux *http.ServeMux) {
	mux.Handle("PUT "+adminapi.TenantsPath+"{id}", a.authed(a.putTenant))
	mux.Handle("GET "+adminapi.TenantsPath+"{id}", a.authed(a.getTenant))
	mux.Handle("DELETE "+adminapi.TenantsPath+"{id}", a.authed(a.deleteTenant))
}

func (a *API) authed(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(got), a.token) != 1 {
			writeError(w, http.StatusUnauthorized, "a valid admin token is required")
			return
		}
		h(w, r)
	})
}

var (
	tenantID = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	domain   = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	idpAlias = regexp.MustCompile(adminapi.IdentityProviderAlias)
)

// rejection is a request refused before the store sees it.
type rejection struct {
	status int
	detail string
}

func (r rejection) Error() string { return r.detail }

// readPut reads PUT's tenant id and body; every error is a rejection.
func readPut(w http.ResponseWriter, r *http.Request) (string, adminapi.TenantSpec, error) {
	var b adminapi.TenantSpec
	id := r.PathValue("id")
	if !tenantID.MatchString(id) {
		return "", b, rejection{http.StatusBadRequest, "tenant id must be a DNS label (lowercase letters, digits, '-')"}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return "", b, rejection{http.StatusBadRequest, "invalid body: " + err.Error()}
	}
	if err := validate(b); err != nil {
		return "", b, rejection{http.StatusUnprocessableEntity, err.Error()}
	}
	return id, b, nil
}

func validate(b adminapi.TenantSpec) error {
	var errs []error
	if n := len(strings.TrimSpace(b.DisplayName)); n == 0 || n > 200 {
		errs = append(errs, errors.New("displayName must be 1..200 characters"))
	}
	for _, d := range b.EmailDomains {
		if !domain.MatchString(strings.ToLower(d)) {
			errs = append(errs, errors.New("emailDomains: "+d+" is not a domain name"))
		}
	}
	for _, e := range b.Admins {
		if !strings.Contains(e, "@") || len(e) > 254 {
			errs = append(errs, errors.New("admins: "+e+" is not an email address"))
		}
	}
	if !idpAlias.MatchString(b.IdentityProvider) {
		errs = append(errs, errors.New("identityProvider: "+b.IdentityProvider+
			" is not an identity provider alias (1..100 letters, digits, '.', '_', '-'; starting and ending with a letter or digit)"))
	}
	return errors.Join(errs...)
}

func (a *API) putTenant(w http.ResponseWriter, r *http.Request) {
	id, b, err := readPut(w, r)
	var rej rejection
	if errors.As(err, &rej) {
		writeError(w, rej.status, rej.detail)
		return
	}
	created, err := a.store.PutTenant(r.Context(), store.Tenant{ID: id, DisplayName: strings.TrimSpace(b.DisplayName),
		EmailDomains: b.EmailDomains, Admins: b.Admins, Suspended: b.Suspended, IdentityProvider: b.IdentityProvider})
	if typ := conflictType(err); typ != "" {
		writeProblem(w, http.StatusConflict, typ, err.Error())
		return
	}
	if err != nil {
		a.log.Error("put tenant", "tenant", id, "error", err)
		writeError(w, http.StatusServiceUnavailable, "try again shortly")
		return
	}
	t, err := a.store.GetTenant(r.Context(), id)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "try again shortly")
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, t)
}

func (a *API) getTenant(w http.ResponseWriter, r *http.Request) {
	t, err := a.store.GetTenant(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "no such tenant")
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "try again shortly")
	default:
		writeJSON(w, http.StatusOK, t)
	}
}

func (a *API) deleteTenant(w http.ResponseWriter, r *http.Request) {
	err := a.store.DeleteTenant(r.Context(), r.PathValue("id"))
	switch {
	case conflictType(err) != "":
		writeProblem(w, http.StatusConflict, conflictType(err), err.Error())
	case err != nil:
		a.log.Error("delete tenant", "error", err)
		writeError(w, http.StatusServiceUnavailable, "try again shortly")
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// conflictType is the problem type of a conflict the store reported; "" for other errors.
func conflictType(err error) string {
	switch {
	case errors.Is(err, store.ErrDomainTaken):
		return adminapi.ProblemDomainTaken
	case errors.Is(err, store.ErrNotDeclared):
		return adminapi.ProblemPersonalTenant
	case errors.Is(err, store.ErrHasMembers):
		return adminapi.ProblemHasMembers
	}
	return ""
}

func writeError(w http.ResponseWriter, status int, detail string) {
	writeProblem(w, status, "about:blank", detail)
}

func writeProblem(w http.ResponseWriter, status int, typ, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": typ, "title": http.StatusText(status), "status": status, "detail": detail})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

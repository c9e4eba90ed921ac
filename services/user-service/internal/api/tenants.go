package api

import (
	"context"
	"net/http"

	"github.com/connectedbbq/platform/services/user-service/internal/domain"
	"github.com/connectedbbq/platform/services/user-service/internal/store"
)

// tenantStore is what the tenant endpoints need beyond the rest of Store.
type tenantStore interface {
	RenameTenant(ctx context.Context, c store.Caller, name string) (store.TenantView, error)
	DeleteMyTenant(ctx context.Context, c store.Caller) error
	SwitchDefaultTenant(ctx context.Context, c store.Caller, tenantID string) (store.Profile, error)
}

// tenantRefusals are the tenant rules' errors as problems.
var tenantRefusals = []struct {
	err error
	p   problem
}{
	{domain.ErrSuspended, problem{Status: http.StatusForbidden, Type: "urn:bbq:problem:tenant-suspended", Title: "Tenant suspended",
		Detail: domain.ErrSuspended.Error()}},
	{domain.ErrNotTenantAdmin, problem{Status: http.StatusForbidden, Type: "urn:bbq:problem:not-an-admin", Title: "Forbidden",
		Detail: domain.ErrNotTenantAdmin.Error()}},
	{domain.ErrDeclaredTenant, problem{Status: http.StatusConflict, Type: "urn:bbq:problem:declared-tenant", Title: "Declared tenant",
		Detail: domain.ErrDeclaredTenant.Error()}},
	{domain.ErrOnlyTenant, problem{Status: http.StatusConflict, Type: "urn:bbq:problem:only-tenant", Title: "Your only tenant",
		Detail: domain.ErrOnlyTenant.Error()}},
	{domain.ErrInvalidName, problem{Status: http.StatusUnprocessableEntity, Type: "urn:bbq:problem:invalid-tenant-name", Title: "Invalid name",
		Detail: domain.ErrInvalidName.Error()}},
	{domain.ErrNotMemberOf, problem{Status: http.StatusForbidden, Type: "urn:bbq:problem:not-a-member", Title: "Not a member",
		Detail: domain.ErrNotMemberOf.Error() + ": choose one of your tenants (GET /v1/me/tenants)"}},
}

// patchTenant renames the active tenant.
func (a *API) patchTenant(w http.ResponseWriter, r *http.Request, c store.Caller) error {
	var body struct {
		DisplayName *string `json:"displayName"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.DisplayName == nil {
		return problem{Status: http.StatusUnprocessableEntity, Type: "urn:bbq:problem:invalid-tenant-name", Title: "Invalid name", Detail: `"displayName" is required`}
	}
	t, err := a.store.RenameTenant(r.Context(), c, *body.DisplayName)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

// deleteTenant deletes the active tenant.
func (a *API) deleteTenant(w http.ResponseWriter, r *http.Request, c store.Caller) error {
	if err := a.store.DeleteMyTenant(r.Context(), c); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// putDefaultTenant switches the caller's default tenant, the one the next token (after a refresh) carries.
// It needs no tenant claim: a token issued before one was written can switch too.
func (a *API) putDefaultTenant(w http.ResponseWriter, r *http.Request, c store.Caller) error {
	var body struct {
		TenantID *string `json:"tenantId"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.TenantID == nil || *body.TenantID == "" {
		return problem{Status: http.StatusUnprocessableEntity, Title: "Invalid tenant", Detail: `"tenantId" is required`}
	}
	if !storable(*body.TenantID) {
		return refusal(domain.ErrNotMemberOf)
	}
	p, err := a.store.SwitchDefaultTenant(r.Context(), c, *body.TenantID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

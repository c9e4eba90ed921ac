// Package adminapi is the wire contract of the user service's admin API, described by
// services/user-service/api/admin-openapi.yaml: the user service serves it, the tenant controller calls it.
// It holds types only, so that neither side depends on the other's internals.
package adminapi

import "encoding/json"

// Problem types of the admin API's 409 answers, so a client can tell the conflicts apart.
const (
	// ProblemDomainTaken: an email domain of the spec belongs to another tenant.
	ProblemDomainTaken = "urn:bbq:problem:domain-taken"
	// ProblemPersonalTenant: the id is a personal tenant's; a declared tenant cannot take it (and deleting it
	// is not the admin API's business).
	ProblemPersonalTenant = "urn:bbq:problem:personal-tenant"
	// ProblemHasMembers: the tenant still has members, so it is not deleted.
	ProblemHasMembers = "urn:bbq:problem:has-members"
)

// TenantsPath is the prefix of a declared tenant's resource: TenantsPath + id.
const TenantsPath = "/admin/v1/tenants/"

// TenantSpec is the body of PUT /admin/v1/tenants/{id}: a tenant as its operator declares it.
type TenantSpec struct {
	DisplayName  string   `json:"displayName"`
	EmailDomains []string `json:"emailDomains"`
	Admins       []string `json:"admins"`
	Suspended    bool     `json:"suspended"`
	// IdentityProvider is the alias of a Keycloak identity provider linked to the tenant's organization
	// ("" for none); IdentityProviderAlias is its pattern.
	IdentityProvider string `json:"identityProvider,omitempty"`
}

// IdentityProviderAlias is the pattern of TenantSpec.IdentityProvider, empty included (the Tenant resource's
// CRD and the admin API's document say the same).
const IdentityProviderAlias = `^([A-Za-z0-9]([A-Za-z0-9._-]{0,98}[A-Za-z0-9])?)?$`

// MarshalJSON writes absent lists as [] rather than null: the document's lists are never null.
func (t TenantSpec) MarshalJSON() ([]byte, error) {
	type plain TenantSpec // without this method
	p := plain(t)
	if p.EmailDomains == nil {
		p.EmailDomains = []string{}
	}
	if p.Admins == nil {
		p.Admins = []string{}
	}
	return json.Marshal(p)
}

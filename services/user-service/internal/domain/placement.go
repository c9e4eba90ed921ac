package domain

import (
	"context"
	"slices"
	"strings"

	"github.com/google/uuid"
)

// DeclaredTenant is a tenant declared by an operator (a Kubernetes Tenant): the email domains whose people
// join it, and the emails that join as admins.
type DeclaredTenant struct {
	ID, Name string
	Domains  []string
	Admins   []string
	// Suspended tenants place nobody: their people go where they would go without them.
	Suspended bool
}

// Directory finds declared tenants; the store implements it.
type Directory interface {
	// DeclaredTenants returns the declared tenants that claim email's domain or list email as an admin.
	DeclaredTenants(ctx context.Context, email string) ([]DeclaredTenant, error)
}

// Placement is where a confirmed user goes.
type Placement struct {
	TenantID, TenantName string
	Role                 Role
	Personal             bool   // a personal tenant, made for this user
	Source               Source // which rule placed the user
}

// personalTenants is the namespace of personal tenant ids: UUIDv5 of the user id, so the tenant a user gets
// is the same however often activation is attempted.
var personalTenants = uuid.MustParse("6f1c2b7e-5d0a-4c8e-9b3f-2a7d4e6c8b10")

// PersonalTenantID is the id of the tenant a user gets when no declared tenant places them.
func PersonalTenantID(userID string) string {
	return uuid.NewSHA1(personalTenants, []byte(userID)).String()
}

// Place decides the tenant and role of a user confirmed with verifiedEmail (the email Keycloak verified in
// the confirming state): the declared tenant that lists it as an admin, as admin; else the declared tenant
// that claims its domain, as a member; else a personal tenant, as its admin. A suspended tenant places nobody.
func Place(ctx context.Context, dir Directory, userID, verifiedEmail, personalName string) (Placement, error) {
	email := strings.ToLower(strings.TrimSpace(verifiedEmail))
	if _, domain, ok := strings.Cut(email, "@"); ok && domain != "" {
		tenants, err := dir.DeclaredTenants(ctx, email)
		if err != nil {
			return Placement{}, err
		}
		tenants = slices.DeleteFunc(tenants, func(t DeclaredTenant) bool { return t.Suspended })
		for _, t := range tenants {
			if slices.ContainsFunc(t.Admins, func(a string) bool { return strings.EqualFold(a, email) }) {
				return Placement{TenantID: t.ID, TenantName: t.Name, Role: Admin, Source: ByDeclared}, nil
			}
		}
		for _, t := range tenants {
			if slices.ContainsFunc(t.Domains, func(d string) bool { return strings.EqualFold(d, domain) }) {
				return Placement{TenantID: t.ID, TenantName: t.Name, Role: Member, Source: ByDomain}, nil
			}
		}
	}
	return Placement{TenantID: PersonalTenantID(userID), TenantName: personalName, Role: Admin, Personal: true, Source: ByPersonal}, nil
}

func personalName(u *User) string {
	who := u.Name
	if who == "" {
		who = u.Email
	}
	return who + "'s tenant"
}

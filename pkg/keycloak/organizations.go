package keycloak

import (
	"context"
	"errors"
	"net/url"
)

// Organization is Keycloak's OrganizationRepresentation (Keycloak 26; the realm must have organizations
// enabled). The alias is fixed once the organization exists.
type Organization struct {
	ID          string              `json:"id,omitempty"`
	Name        string              `json:"name"`
	Alias       string              `json:"alias,omitempty"`
	Enabled     bool                `json:"enabled"`
	Description string              `json:"description,omitempty"`
	Attributes  map[string][]string `json:"attributes,omitempty"`
	// Domains are the organization's email domains (each in one organization of the realm at most).
	Domains []OrganizationDomain `json:"domains"`
}

// OrganizationDomain is Keycloak's OrganizationDomainRepresentation.
type OrganizationDomain struct {
	Name     string `json:"name"`
	Verified bool   `json:"verified"`
}

// OrganizationByAlias returns the organization with exactly this alias (ErrNotFound when there is none).
// The admin API's search matches names and domains, not aliases, so the alias is also kept as the
// attribute AliasAttribute, which the exact attribute query (q) finds.
func (c *Client) OrganizationByAlias(ctx context.Context, alias string) (Organization, error) {
	q := url.Values{"q": {AliasAttribute + ":" + alias}, "briefRepresentation": {"false"}, "max": {"2"}}
	var orgs []Organization
	if _, err := c.call(ctx, "GET", "/organizations", q, nil, &orgs); err != nil {
		return Organization{}, err
	}
	for _, o := range orgs {
		if o.Alias == alias {
			return o, nil
		}
	}
	return Organization{}, &APIError{Method: "GET", Path: "/organizations?q=" + AliasAttribute + ":" + alias, Status: 404, Body: "no such organization"}
}

// AliasAttribute is the organization attribute that repeats the alias, so OrganizationByAlias can find it.
const AliasAttribute = "bbq_alias"

// CreateOrganization creates o (its alias is also written as AliasAttribute) and returns the new id.
func (c *Client) CreateOrganization(ctx context.Context, o Organization) (string, error) {
	o.Attributes = withAlias(o.Attributes, o.Alias)
	h, err := c.call(ctx, "POST", "/organizations", nil, o, nil)
	if err != nil {
		return "", err
	}
	return createdID(h)
}

// UpdateOrganization replaces the organization's name, description, enabled flag and attributes.
func (c *Client) UpdateOrganization(ctx context.Context, o Organization) error {
	o.Attributes = withAlias(o.Attributes, o.Alias)
	_, err := c.call(ctx, "PUT", "/organizations/"+url.PathEscape(o.ID), nil, o, nil)
	return err
}

func withAlias(attrs map[string][]string, alias string) map[string][]string {
	out := map[string][]string{}
	for k, v := range attrs {
		out[k] = v
	}
	out[AliasAttribute] = []string{alias}
	return out
}

// DeleteOrganization deletes an organization; a missing one is not an error.
func (c *Client) DeleteOrganization(ctx context.Context, id string) error {
	_, err := c.call(ctx, "DELETE", "/organizations/"+url.PathEscape(id), nil, nil, nil)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// AddOrganizationMember makes the user an (unmanaged) member. added is false when they were one already
// (Keycloak's 409: nothing written).
func (c *Client) AddOrganizationMember(ctx context.Context, orgID, userID string) (added bool, err error) {
	_, err = c.call(ctx, "POST", "/organizations/"+url.PathEscape(orgID)+"/members", nil, userID, nil)
	if errors.Is(err, ErrConflict) {
		return false, nil
	}
	return err == nil, err
}

// RemoveOrganizationMember ends a membership. removed is false when there was none (Keycloak's 400 "not a
// member" or 404).
func (c *Client) RemoveOrganizationMember(ctx context.Context, orgID, userID string) (removed bool, err error) {
	_, err = c.call(ctx, "DELETE", "/organizations/"+url.PathEscape(orgID)+"/members/"+url.PathEscape(userID), nil, nil, nil)
	var apiErr *APIError
	if errors.Is(err, ErrNotFound) || (errors.As(err, &apiErr) && apiErr.Status == 400) {
		return false, nil
	}
	return err == nil, err
}

// OrganizationMember is a member of an organization and how they joined.
type OrganizationMember struct {
	ID             string `json:"id"`
	MembershipType string `json:"membershipType"` // MANAGED or UNMANAGED
}

// Managed reports whether Keycloak made the member through the organization's identity provider (its
// first broker login's organization step). Removing a managed member from the organization, or deleting
// the organization, deletes the account.
func (m OrganizationMember) Managed() bool { return m.MembershipType == "MANAGED" }

// OrganizationMember returns the user's membership of the organization (ErrNotFound when there is none).
func (c *Client) OrganizationMember(ctx context.Context, orgID, userID string) (OrganizationMember, error) {
	var m OrganizationMember
	_, err := c.call(ctx, "GET", "/organizations/"+url.PathEscape(orgID)+"/members/"+url.PathEscape(userID), nil, nil, &m)
	return m, err
}

// HasManagedMembers reports whether the organization has a managed member.
func (c *Client) HasManagedMembers(ctx context.Context, orgID string) (bool, error) {
	q := url.Values{"membershipType": {"MANAGED"}, "max": {"1"}, "briefRepresentation": {"true"}}
	var out []OrganizationMember
	_, err := c.call(ctx, "GET", "/organizations/"+url.PathEscape(orgID)+"/members", q, nil, &out)
	return len(out) > 0, err
}

// OrganizationMembers lists an organization's members.
func (c *Client) OrganizationMembers(ctx context.Context, orgID string, first, max int) ([]User, error) {
	var out []User
	_, err := c.call(ctx, "GET", "/organizations/"+url.PathEscape(orgID)+"/members", page(first, max, false), nil, &out)
	return out, err
}

// UserOrganizations lists the organizations a user is a member of.
func (c *Client) UserOrganizations(ctx context.Context, userID string) ([]Organization, error) {
	var out []Organization
	_, err := c.call(ctx, "GET", "/organizations/members/"+url.PathEscape(userID)+"/organizations",
		url.Values{"briefRepresentation": {"false"}}, nil, &out)
	return out, err
}

// LinkOrganizationIdentityProvider links an identity provider (by alias) to the organization, so that its
// members sign in through it. Keycloak 26.7 answers 409 when it is linked to the organization already
// (returned as ErrConflict: compare with OrganizationIdentityProviders first) and 400 for an alias it does
// not know.
func (c *Client) LinkOrganizationIdentityProvider(ctx context.Context, orgID, idpAlias string) error {
	_, err := c.call(ctx, "POST", "/organizations/"+url.PathEscape(orgID)+"/identity-providers", nil, idpAlias, nil)
	return err
}

// UnlinkOrganizationIdentityProvider ends the link; the identity provider stays in the realm. unlinked is
// false when it was not linked (Keycloak's 404).
func (c *Client) UnlinkOrganizationIdentityProvider(ctx context.Context, orgID, idpAlias string) (unlinked bool, err error) {
	_, err = c.call(ctx, "DELETE", "/organizations/"+url.PathEscape(orgID)+"/identity-providers/"+url.PathEscape(idpAlias), nil, nil, nil)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// OrganizationIdentityProviders lists the aliases of the identity providers linked to the organization.
func (c *Client) OrganizationIdentityProviders(ctx context.Context, orgID string) ([]string, error) {
	var idps []struct {
		Alias string `json:"alias"`
	}
	if _, err := c.call(ctx, "GET", "/organizations/"+url.PathEscape(orgID)+"/identity-providers", nil, nil, &idps); err != nil {
		return nil, err
	}
	aliases := make([]string, 0, len(idps))
	for _, p := range idps {
		aliases = append(aliases, p.Alias)
	}
	return aliases, nil
}

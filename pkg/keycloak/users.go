package keycloak

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// User is Keycloak's UserRepresentation, the fields the platform uses.
type User struct {
	ID               string              `json:"id,omitempty"`
	Username         string              `json:"username,omitempty"`
	Email            string              `json:"email,omitempty"`
	EmailVerified    bool                `json:"emailVerified"`
	Enabled          bool                `json:"enabled"`
	FirstName        string              `json:"firstName,omitempty"`
	LastName         string              `json:"lastName,omitempty"`
	Attributes       map[string][]string `json:"attributes,omitempty"`
	RequiredActions  []string            `json:"requiredActions,omitempty"`
	CreatedTimestamp int64               `json:"createdTimestamp,omitempty"`
	Credentials      []Credential        `json:"credentials,omitempty"`
	// FederatedIdentities are the identity-provider links (GET /users/{id} lists them).
	FederatedIdentities []FederatedIdentity `json:"federatedIdentities,omitempty"`
}

// FederatedIdentity is a link of the user to an identity provider.
type FederatedIdentity struct {
	IdentityProvider string `json:"identityProvider"`
	UserID           string `json:"userId,omitempty"`
	UserName         string `json:"userName,omitempty"`
}

// Attribute returns the first value of an attribute, or "".
func (u User) Attribute(name string) string {
	if v := u.Attributes[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Credential sets a password on CreateUser.
type Credential struct {
	Type      string `json:"type"`
	Value     string `json:"value"`
	Temporary bool   `json:"temporary"`
}

// UserUpdate changes only what is set: nil fields stay; an attribute mapped to nil is removed.
type UserUpdate struct {
	FirstName  *string
	LastName   *string
	Attributes map[string][]string
}

// GetUser returns one user with its identity-provider links; ErrNotFound when it does not exist.
func (c *Client) GetUser(ctx context.Context, id string) (User, error) {
	var u User
	_, err := c.call(ctx, "GET", "/users/"+url.PathEscape(id), nil, nil, &u)
	return u, err
}

// LogoutUser ends every session of the user: their refresh tokens are refused from now on.
func (c *Client) LogoutUser(ctx context.Context, id string) error {
	_, err := c.call(ctx, "POST", "/users/"+url.PathEscape(id)+"/logout", nil, nil, nil)
	return err
}

// FederatedIdentities returns the user's links to identity providers.
func (c *Client) FederatedIdentities(ctx context.Context, id string) ([]FederatedIdentity, error) {
	var out []FederatedIdentity
	_, err := c.call(ctx, "GET", "/users/"+url.PathEscape(id)+"/federated-identity", nil, nil, &out)
	return out, err
}

// LinkIdentity links the user to an account at an identity provider (admin event USER CREATE on
// users/{id}/federated-identity/{alias}).
func (c *Client) LinkIdentity(ctx context.Context, id string, link FederatedIdentity) error {
	path := "/users/" + url.PathEscape(id) + "/federated-identity/" + url.PathEscape(link.IdentityProvider)
	_, err := c.call(ctx, "POST", path, nil, link, nil)
	return err
}

// UnlinkIdentity removes the user's link to an identity provider.
func (c *Client) UnlinkIdentity(ctx context.Context, id, alias string) error {
	_, err := c.call(ctx, "DELETE", "/users/"+url.PathEscape(id)+"/federated-identity/"+url.PathEscape(alias), nil, nil, nil)
	return err
}

// CreateUser creates a user and returns its id (admin events: USER CREATE, never REGISTER).
func (c *Client) CreateUser(ctx context.Context, u User) (string, error) {
	h, err := c.call(ctx, "POST", "/users", nil, u, nil)
	if err != nil {
		return "", err
	}
	return createdID(h)
}

// UpdateUser merges the update into the stored user (read, change, write: Keycloak's PUT replaces the
// attributes it is given, and drops unmanaged ones it is not). A change made between the read and the
// write is undone: for one attribute use PutAttribute, for the names UpdateNames.
func (c *Client) UpdateUser(ctx context.Context, id string, up UserUpdate) error {
	u, err := c.GetUser(ctx, id)
	if err != nil {
		return err
	}
	if up.FirstName != nil {
		u.FirstName = *up.FirstName
	}
	if up.LastName != nil {
		u.LastName = *up.LastName
	}
	attrs := maps.Clone(u.Attributes)
	if attrs == nil {
		attrs = map[string][]string{}
	}
	for k, v := range up.Attributes {
		if v == nil {
			delete(attrs, k)
		} else {
			attrs[k] = v
		}
	}
	// Only the profile goes back: fields left out (required actions, emailVerified, enabled) are kept by
	// Keycloak, so a copy read before the person finished a required action cannot undo it.
	u.Attributes = attrs
	return c.putProfile(ctx, id, u)
}

// UpdateNames sets the first and last name with a PUT that carries no attributes: Keycloak 26 then keeps
// every attribute and field not sent (email, username, tenant, ...), so nothing else can be reverted.
// (A PUT that carries attributes is different: see putProfile.)
func (c *Client) UpdateNames(ctx context.Context, id, firstName, lastName string) error {
	body := map[string]any{"firstName": firstName, "lastName": lastName}
	_, err := c.call(ctx, "PUT", "/users/"+url.PathEscape(id), nil, body, nil)
	return err
}

// PutAttribute sets one attribute of the user and changes nothing else (no values: removes it). It calls
// the bbq admin REST extension of deploy/keycloak/provider (PUT /admin/realms/{realm}/bbq/users/{id}/
// attributes/{name}), because Keycloak's own PUT of a user replaces the whole profile (see putProfile).
// ErrNotFound when the user does not exist; a Keycloak without the extension is an error that says so.
func (c *Client) PutAttribute(ctx context.Context, id, name string, values ...string) error {
	if values == nil {
		values = []string{}
	}
	return c.putBBQ(ctx, "/bbq/users/"+url.PathEscape(id)+"/attributes/"+url.PathEscape(name), values)
}

// PutAttributes sets several attributes of the user together (one write, one admin event) and changes
// nothing else; a name with no values is removed. The same extension as PutAttribute
// (PUT /admin/realms/{realm}/bbq/users/{id}/attributes).
func (c *Client) PutAttributes(ctx context.Context, id string, attrs map[string][]string) error {
	body := make(map[string][]string, len(attrs))
	for k, v := range attrs {
		if v == nil {
			v = []string{}
		}
		body[k] = v
	}
	return c.putBBQ(ctx, "/bbq/users/"+url.PathEscape(id)+"/attributes", body)
}

func (c *Client) putBBQ(ctx context.Context, path string, body any) error {
	_, err := c.call(ctx, "PUT", path, nil, body, nil)
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound && !strings.Contains(apiErr.Body, "user_not_found") {
		// Not ErrNotFound: the user may well exist; the endpoint does not.
		return fmt.Errorf("keycloak: PUT %s: HTTP 404 %s: is the bbq provider (its admin REST extension) installed?", path, apiErr.Body)
	}
	return err
}

// putProfile writes u's profile as it is: username, email, first and last name and all attributes. With
// the declarative user profile, Keycloak 26 removes every profile field and attribute a PUT with attributes
// does not carry (email and names included), so u must be a complete copy, read just before; a change made
// in between is undone. Use UpdateNames or PutAttribute where they do.
func (c *Client) putProfile(ctx context.Context, id string, u User) error {
	attrs := u.Attributes
	if attrs == nil {
		attrs = map[string][]string{}
	}
	body := map[string]any{"username": u.Username, "email": u.Email, "firstName": u.FirstName, "lastName": u.LastName, "attributes": attrs}
	_, err := c.call(ctx, "PUT", "/users/"+url.PathEscape(id), nil, body, nil)
	return err
}

// SetAttribute sets one attribute, keeping the others (e.g. the tenant written back by user-service).
func (c *Client) SetAttribute(ctx context.Context, id, name string, values ...string) error {
	if values == nil {
		values = []string{}
	}
	return c.UpdateUser(ctx, id, UserUpdate{Attributes: map[string][]string{name: values}})
}

// DeleteUser deletes a user (admin event USER DELETE).
func (c *Client) DeleteUser(ctx context.Context, id string) error {
	_, err := c.call(ctx, "DELETE", "/users/"+url.PathEscape(id), nil, nil, nil)
	return err
}

// ListUsers pages through all users with their attributes, in Keycloak's order.
func (c *Client) ListUsers(ctx context.Context, first, max int) ([]User, error) {
	q := url.Values{"first": {strconv.Itoa(first)}, "max": {strconv.Itoa(max)}, "briefRepresentation": {"false"}}
	var users []User
	_, err := c.call(ctx, "GET", "/users", q, nil, &users)
	return users, err
}

// ListUsersBrief pages through all users without their attributes (Keycloak's brief representation: id,
// username, email, names, enabled, emailVerified, createdTimestamp), which Keycloak serves without loading
// each user's attributes.
func (c *Client) ListUsersBrief(ctx context.Context, first, max int) ([]User, error) {
	q := url.Values{"first": {strconv.Itoa(first)}, "max": {strconv.Itoa(max)}, "briefRepresentation": {"true"}}
	var users []User
	_, err := c.call(ctx, "GET", "/users", q, nil, &users)
	return users, err
}

// FindUserByEmail returns the user with exactly this email; ErrNotFound when there is none.
func (c *Client) FindUserByEmail(ctx context.Context, email string) (User, error) {
	q := url.Values{"email": {email}, "exact": {"true"}, "briefRepresentation": {"false"}}
	var users []User
	if _, err := c.call(ctx, "GET", "/users", q, nil, &users); err != nil {
		return User{}, err
	}
	if len(users) == 0 {
		return User{}, &APIError{Method: "GET", Path: "/users?email=" + email, Status: 404, Body: "no such user"}
	}
	return users[0], nil
}

// CountUsers returns the number of users in the realm.
func (c *Client) CountUsers(ctx context.Context) (int, error) {
	var n int
	if _, err := c.call(ctx, "GET", "/users/count", nil, nil, &n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// IdentityProviderAliases returns the aliases of the realm's identity providers (it needs the role
// view-identity-providers; ErrUnauthorized without it).
func (c *Client) IdentityProviderAliases(ctx context.Context) ([]string, error) {
	var idps []struct {
		Alias string `json:"alias"`
	}
	if _, err := c.call(ctx, "GET", "/identity-provider/instances", url.Values{"briefRepresentation": {"true"}}, nil, &idps); err != nil {
		return nil, err
	}
	aliases := make([]string, 0, len(idps))
	for _, p := range idps {
		aliases = append(aliases, p.Alias)
	}
	return aliases, nil
}

// ListUsersLinkedTo pages through the users linked to the identity provider alias (brief representations:
// enough for their ids). One request per page instead of one GetUser per user.
func (c *Client) ListUsersLinkedTo(ctx context.Context, alias string, first, max int) ([]User, error) {
	q := url.Values{"idpAlias": {alias}, "first": {strconv.Itoa(first)}, "max": {strconv.Itoa(max)}, "briefRepresentation": {"true"}}
	var users []User
	_, err := c.call(ctx, "GET", "/users", q, nil, &users)
	return users, err
}

// ImportUsers creates users with Keycloak's partial import (POST /partialImport), 250 a request: far
// faster than one CreateUser each, for tests and benchmarks, and each request well inside the client's
// timeout on a loaded machine (1,000 a request took over 15 s there). A user that exists already fails the
// import.
func (c *Client) ImportUsers(ctx context.Context, users []User) error {
	const batch = 250
	for from := 0; from < len(users); from += batch {
		body := map[string]any{"ifResourceExists": "FAIL", "users": users[from:min(len(users), from+batch)]}
		if _, err := c.call(ctx, "POST", "/partialImport", nil, body, nil); err != nil {
			return fmt.Errorf("partial import of users %d..: %w", from, err)
		}
	}
	return nil
}

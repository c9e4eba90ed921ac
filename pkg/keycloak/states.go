package keycloak

import (
	"context"
	"errors"
	"fmt"
)

// MaxUserStates is how many ids one UserStates request may carry (the extension refuses more).
const MaxUserStates = 500

// ErrNoStatesEndpoint: the Keycloak has no bbq extension with POST users/states (a provider older than it).
var ErrNoStatesEndpoint = errors.New("keycloak: no POST bbq/users/states (bbq provider missing or older)")

// UserStates reads many users in one request: the bbq admin REST extension's POST
// /admin/realms/{realm}/bbq/users/states (deploy/keycloak/provider), because the admin API reads one user per
// request. Each user has the fields of a webhook's bbqUser (no attributes); an id without a user is left out.
func (c *Client) UserStates(ctx context.Context, ids []string) ([]User, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if len(ids) > MaxUserStates {
		return nil, fmt.Errorf("keycloak: user states: %d ids, at most %d per request", len(ids), MaxUserStates)
	}
	var out struct {
		Users []struct {
			User
			FederatedIdentities []string `json:"federatedIdentities"`
		} `json:"users"`
	}
	_, err := c.call(ctx, "POST", "/bbq/users/states", nil, ids, &out)
	if err != nil {
		return nil, missingExtension(err, ErrNoStatesEndpoint)
	}
	users := make([]User, len(out.Users))
	for i, u := range out.Users { // the endpoint lists links by alias; the outer field takes them from User's
		users[i] = u.User
		for _, alias := range u.FederatedIdentities {
			users[i].FederatedIdentities = append(users[i].FederatedIdentities, FederatedIdentity{IdentityProvider: alias})
		}
	}
	return users, nil
}

package keycloak

import (
	"context"
	"errors"
	"net/url"
)

// Group is Keycloak's GroupRepresentation (top-level groups only).
type Group struct {
	ID         string              `json:"id,omitempty"`
	Name       string              `json:"name"`
	Path       string              `json:"path,omitempty"`
	Attributes map[string][]string `json:"attributes,omitempty"`
}

// EnsureGroup creates the top-level group or updates its attributes, and returns its id. Idempotent.
func (c *Client) EnsureGroup(ctx context.Context, name string, attrs map[string][]string) (string, error) {
	g, err := c.groupByName(ctx, name)
	switch {
	case errors.Is(err, ErrNotFound):
		h, err := c.call(ctx, "POST", "/groups", nil, Group{Name: name, Attributes: attrs}, nil)
		if errors.Is(err, ErrConflict) { // created concurrently: take the winner's
			return c.EnsureGroup(ctx, name, attrs)
		}
		if err != nil {
			return "", err
		}
		return createdID(h)
	case err != nil:
		return "", err
	}
	g.Attributes = attrs
	_, err = c.call(ctx, "PUT", "/groups/"+url.PathEscape(g.ID), nil, g, nil)
	return g.ID, err
}

// GetGroup returns one group by id.
func (c *Client) GetGroup(ctx context.Context, id string) (Group, error) {
	var g Group
	_, err := c.call(ctx, "GET", "/groups/"+url.PathEscape(id), nil, nil, &g)
	return g, err
}

func (c *Client) groupByName(ctx context.Context, name string) (Group, error) {
	q := url.Values{"search": {name}, "exact": {"true"}, "briefRepresentation": {"false"}}
	var gs []Group
	if _, err := c.call(ctx, "GET", "/groups", q, nil, &gs); err != nil {
		return Group{}, err
	}
	for _, g := range gs {
		if g.Name == name {
			return g, nil
		}
	}
	return Group{}, &APIError{Method: "GET", Path: "/groups?search=" + name, Status: 404, Body: "no such group"}
}

// DeleteGroup deletes a group; deleting a missing group is not an error.
func (c *Client) DeleteGroup(ctx context.Context, id string) error {
	_, err := c.call(ctx, "DELETE", "/groups/"+url.PathEscape(id), nil, nil, nil)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// AddUserToGroup makes the user a member (idempotent in Keycloak).
func (c *Client) AddUserToGroup(ctx context.Context, userID, groupID string) error {
	_, err := c.call(ctx, "PUT", "/users/"+url.PathEscape(userID)+"/groups/"+url.PathEscape(groupID), nil, nil, nil)
	return err
}

// RemoveUserFromGroup ends a membership.
func (c *Client) RemoveUserFromGroup(ctx context.Context, userID, groupID string) error {
	_, err := c.call(ctx, "DELETE", "/users/"+url.PathEscape(userID)+"/groups/"+url.PathEscape(groupID), nil, nil, nil)
	return err
}

// GroupMembers lists a group's members.
func (c *Client) GroupMembers(ctx context.Context, groupID string, first, max int) ([]User, error) {
	var out []User
	_, err := c.call(ctx, "GET", "/groups/"+url.PathEscape(groupID)+"/members", page(first, max, false), nil, &out)
	return out, err
}

package keycloak

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Event is Keycloak's EventRepresentation: a stored user event, as the webhook also sends it.
type Event struct {
	ID        string            `json:"id"`
	Time      int64             `json:"time"` // unix milliseconds
	Type      string            `json:"type"`
	RealmID   string            `json:"realmId"`
	ClientID  string            `json:"clientId,omitempty"`
	UserID    string            `json:"userId,omitempty"`
	SessionID string            `json:"sessionId,omitempty"`
	IPAddress string            `json:"ipAddress,omitempty"`
	Error     string            `json:"error,omitempty"`
	Details   map[string]string `json:"details,omitempty"`
}

// AuthDetails says who made an admin change.
type AuthDetails struct {
	RealmID   string `json:"realmId,omitempty"`
	RealmName string `json:"realmName,omitempty"`
	ClientID  string `json:"clientId,omitempty"`
	UserID    string `json:"userId,omitempty"`
	IPAddress string `json:"ipAddress,omitempty"`
}

// AdminEvent is Keycloak's AdminEventRepresentation. Representation is the changed resource as a JSON string
// (present when the realm stores details).
type AdminEvent struct {
	ID             string            `json:"id"`
	Time           int64             `json:"time"`
	RealmID        string            `json:"realmId"`
	AuthDetails    AuthDetails       `json:"authDetails"`
	OperationType  string            `json:"operationType"`
	ResourceType   string            `json:"resourceType"`
	ResourcePath   string            `json:"resourcePath"`
	Representation string            `json:"representation,omitempty"`
	Error          string            `json:"error,omitempty"`
	Details        map[string]string `json:"details,omitempty"`
}

// EventQuery selects stored user events. Zero values mean "no filter"; Max defaults to 100.
type EventQuery struct {
	Since     time.Time // inclusive, millisecond precision
	Until     time.Time
	Types     []string
	UserID    string
	First     int
	Max       int
	Ascending bool // oldest first, for checkpointed reading
}

func (q EventQuery) values() url.Values {
	v := page(q.First, q.Max, q.Ascending)
	timeRange(v, q.Since, q.Until)
	for _, t := range q.Types {
		v.Add("type", t)
	}
	if q.UserID != "" {
		v.Set("user", q.UserID)
	}
	return v
}

// Events returns stored user events (needs the view-events role).
func (c *Client) Events(ctx context.Context, q EventQuery) ([]Event, error) {
	var out []Event
	_, err := c.call(ctx, "GET", "/events", q.values(), nil, &out)
	return out, err
}

// AdminEventQuery selects stored admin events.
type AdminEventQuery struct {
	Since          time.Time
	Until          time.Time
	ResourceTypes  []string // e.g. USER
	OperationTypes []string // CREATE, UPDATE, DELETE, ACTION
	ResourcePath   string   // e.g. users/* ; Keycloak matches with wildcards
	First          int
	Max            int
	Ascending      bool
}

// AdminEvents returns stored admin events (needs view-events).
func (c *Client) AdminEvents(ctx context.Context, q AdminEventQuery) ([]AdminEvent, error) {
	v := page(q.First, q.Max, q.Ascending)
	timeRange(v, q.Since, q.Until)
	for _, t := range q.ResourceTypes {
		v.Add("resourceTypes", t)
	}
	for _, t := range q.OperationTypes {
		v.Add("operationTypes", t)
	}
	if q.ResourcePath != "" {
		v.Set("resourcePath", q.ResourcePath)
	}
	var out []AdminEvent
	_, err := c.call(ctx, "GET", "/admin-events", v, nil, &out)
	return out, err
}

func page(first, max int, asc bool) url.Values {
	if max <= 0 {
		max = 100
	}
	v := url.Values{"first": {strconv.Itoa(first)}, "max": {strconv.Itoa(max)}}
	if asc {
		v.Set("direction", "asc")
	}
	return v
}

// timeRange uses epoch milliseconds, which the events endpoints accept besides yyyy-MM-dd.
func timeRange(v url.Values, since, until time.Time) {
	if !since.IsZero() {
		v.Set("dateFrom", strconv.FormatInt(since.UnixMilli(), 10))
	}
	if !until.IsZero() {
		v.Set("dateTo", strconv.FormatInt(until.UnixMilli(), 10))
	}
}

// MaxStoredAdminEvents is the largest page StoredAdminEvents may ask for (the extension refuses more).
const MaxStoredAdminEvents = 10000

// ErrNoAdminEventsEndpoint: the Keycloak has no bbq extension with GET bbq/admin-events (a provider older than it).
var ErrNoAdminEventsEndpoint = errors.New("keycloak: no GET bbq/admin-events (bbq provider missing or older)")

// StoredAdminEvents reads stored admin events on users (every operation) from since to until (inclusive; zero:
// open), oldest first, at most max: the bbq admin REST extension's GET bbq/admin-events
// (deploy/keycloak/provider), which reads them as columns where Keycloak's AdminEvents builds each through its
// model. An event has no AuthDetails and no Details.
func (c *Client) StoredAdminEvents(ctx context.Context, since, until time.Time, max int) ([]AdminEvent, error) {
	if max < 1 || max > MaxStoredAdminEvents {
		return nil, fmt.Errorf("keycloak: stored admin events: max %d, want 1 to %d", max, MaxStoredAdminEvents)
	}
	v := url.Values{"max": {strconv.Itoa(max)}}
	timeRange(v, since, until)
	var out []AdminEvent
	_, err := c.call(ctx, "GET", "/bbq/admin-events", v, nil, &out)
	return out, missingExtension(err, ErrNoAdminEventsEndpoint)
}

// missingExtension is err, marked with missing when Keycloak has no such bbq endpoint (404 or 405: a provider
// older than it, or none).
func missingExtension(err, missing error) error {
	var apiErr *APIError
	if errors.As(err, &apiErr) && (apiErr.Status == http.StatusNotFound || apiErr.Status == http.StatusMethodNotAllowed) {
		return fmt.Errorf("%w: %w", missing, err)
	}
	return err
}

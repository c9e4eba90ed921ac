// Package kcevent reads Keycloak's event representations (what its admin REST API returns and our
// event-listener provider sends) and maps those about users to the platform's CloudEvents.
package kcevent

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"google.golang.org/protobuf/proto"

	"github.com/connectedbbq/platform/pkg/events"
	eventsv1 "github.com/connectedbbq/platform/pkg/gen/bbq/events/v1"
)

// Event is Keycloak's EventRepresentation: something a user did.
type Event struct {
	ID        string            `json:"id"`
	Time      int64             `json:"time"` // milliseconds since the epoch
	Type      string            `json:"type"`
	RealmID   string            `json:"realmId"`
	RealmName string            `json:"realmName"`
	ClientID  string            `json:"clientId"`
	UserID    string            `json:"userId"`
	SessionID string            `json:"sessionId"`
	IPAddress string            `json:"ipAddress"`
	Error     string            `json:"error"`
	Details   map[string]string `json:"details"`
}

// AdminEvent is Keycloak's AdminEventRepresentation: something an administrator did.
type AdminEvent struct {
	ID             string         `json:"id"`
	Time           int64          `json:"time"`
	RealmID        string         `json:"realmId"`
	RealmName      string         `json:"realmName"`
	AuthDetails    map[string]any `json:"authDetails"`
	OperationType  string         `json:"operationType"`
	ResourceType   string         `json:"resourceType"`
	ResourcePath   string         `json:"resourcePath"`
	Representation string         `json:"representation"`
	Error          string         `json:"error"`
}

// userRepresentation is the part of Keycloak's UserRepresentation we read from admin events.
type userRepresentation struct {
	ID            string `json:"id"`
	Username      string `json:"username"`
	Email         string `json:"email"`
	EmailVerified *bool  `json:"emailVerified"`
	FirstName     string `json:"firstName"`
	LastName      string `json:"lastName"`
}

// Mapped is one CloudEvent to publish.
type Mapped struct {
	Kind events.Kind
	Meta events.Meta
	Data proto.Message
}

// ErrIgnored marks a well-formed event that is not about a user's lifecycle (logins, group
// changes, failed operations...). The receiver accepts and counts it.
var ErrIgnored = errors.New("event ignored")

// ErrInvalid marks an event that cannot be mapped because it lacks what its type requires.
var ErrInvalid = errors.New("invalid event")

// MapEvent maps a user event.
func MapEvent(e Event) (Mapped, error) {
	if e.Error != "" {
		return Mapped{}, fmt.Errorf("%w: %s failed with %q", ErrIgnored, e.Type, e.Error)
	}
	kind, data, err := userEventData(e)
	if err != nil {
		return Mapped{}, err
	}
	if e.ID == "" || e.UserID == "" || e.Time <= 0 || realmOf(e.RealmName, e.RealmID) == "" {
		return Mapped{}, fmt.Errorf("%w: %s needs id, userId, realmId and time", ErrInvalid, e.Type)
	}
	if err := checkIDs(e.ID, e.UserID, realmOf(e.RealmName, e.RealmID)); err != nil {
		return Mapped{}, err
	}
	if err := checkFields(detailFields(e.Details)...); err != nil {
		return Mapped{}, err
	}
	return Mapped{Kind: kind, Data: data, Meta: meta(e.ID, realmOf(e.RealmName, e.RealmID), e.UserID, e.Time)}, nil
}

func userEventData(e Event) (events.Kind, proto.Message, error) {
	d, realm := e.Details, realmOf(e.RealmName, e.RealmID)
	switch e.Type {
	case "REGISTER":
		method := eventsv1.RegistrationMethod_REGISTRATION_METHOD_SELF_SERVICE
		if d["register_method"] == "broker" || d["identity_provider"] != "" {
			method = eventsv1.RegistrationMethod_REGISTRATION_METHOD_BROKERED
		}
		return events.UserRegistered, &eventsv1.UserRegistered{
			UserId: e.UserID, Email: d["email"], UserName: d["username"], Name: fullName(d["first_name"], d["last_name"]),
			EmailVerified: d["email_verified"] == "true", Realm: realm, Method: method,
		}, nil
	case "VERIFY_EMAIL":
		return events.UserEmailVerified, &eventsv1.UserEmailVerified{UserId: e.UserID, Email: d["email"], Realm: realm}, nil
	case "UPDATE_PROFILE":
		return events.UserProfileUpdated, &eventsv1.UserProfileUpdated{
			UserId: e.UserID, Email: d["updated_email"], Name: fullName(d["updated_first_name"], d["updated_last_name"]), Realm: realm,
		}, nil
	case "UPDATE_EMAIL":
		email := d["updated_email"]
		if email == "" {
			email = d["email"]
		}
		return events.UserProfileUpdated, &eventsv1.UserProfileUpdated{UserId: e.UserID, Email: email, Realm: realm}, nil
	case "DELETE_ACCOUNT":
		return events.IdPUserDeleted, &eventsv1.UserDeleted{UserId: e.UserID, Realm: realm}, nil
	}
	return events.Kind{}, nil, fmt.Errorf("%w: user event type %q", ErrIgnored, e.Type)
}

// MapAdminEvent maps an administrator's create, update or delete of a user.
func MapAdminEvent(e AdminEvent) (Mapped, error) {
	if e.ResourceType != "USER" || e.Error != "" {
		return Mapped{}, fmt.Errorf("%w: admin %s on %s", ErrIgnored, e.OperationType, e.ResourceType)
	}
	userID, ok := strings.CutPrefix(e.ResourcePath, "users/")
	if !ok || userID == "" || strings.Contains(userID, "/") {
		return Mapped{}, fmt.Errorf("%w: admin %s on %q is not a user itself", ErrIgnored, e.OperationType, e.ResourcePath)
	}
	if e.ID == "" || e.Time <= 0 || realmOf(e.RealmName, e.RealmID) == "" {
		return Mapped{}, fmt.Errorf("%w: admin event needs id, realmId and time", ErrInvalid)
	}
	realm := realmOf(e.RealmName, e.RealmID)
	if err := checkIDs(e.ID, userID, realm); err != nil {
		return Mapped{}, err
	}
	m := Mapped{Meta: meta(e.ID, realm, userID, e.Time)}
	if e.OperationType == "DELETE" {
		m.Kind, m.Data = events.IdPUserDeleted, &eventsv1.UserDeleted{UserId: userID, Realm: realm}
		return m, nil
	}
	if e.OperationType != "CREATE" && e.OperationType != "UPDATE" {
		return Mapped{}, fmt.Errorf("%w: admin %s on a user", ErrIgnored, e.OperationType)
	}
	var u userRepresentation
	if err := json.Unmarshal([]byte(e.Representation), &u); err != nil {
		return Mapped{}, fmt.Errorf("%w: admin %s representation: %w", ErrInvalid, e.OperationType, err)
	}
	if err := checkFields(u.fields()...); err != nil {
		return Mapped{}, err
	}
	if e.OperationType == "CREATE" {
		m.Kind, m.Data = events.UserRegistered, &eventsv1.UserRegistered{
			UserId: userID, Email: u.Email, UserName: u.Username, Name: fullName(u.FirstName, u.LastName),
			EmailVerified: u.EmailVerified != nil && *u.EmailVerified, Realm: realm,
			Method: eventsv1.RegistrationMethod_REGISTRATION_METHOD_ADMIN,
		}
		return m, nil
	}
	m.Kind, m.Data = events.UserProfileUpdated, &eventsv1.UserProfileUpdated{
		UserId: userID, Email: u.Email, Name: fullName(u.FirstName, u.LastName), EmailVerified: u.EmailVerified, Realm: realm,
	}
	return m, nil
}

// Backfill maps an existing Keycloak user to the registration it would have sent. Its id is
// derived from the user, so walking the realm again publishes nothing new.
func Backfill(realm, userID, userName, email, firstName, lastName string, emailVerified bool, createdMillis int64) Mapped {
	return Mapped{
		Kind: events.UserRegistered,
		Meta: meta("backfill-"+userID, realm, userID, createdMillis),
		Data: &eventsv1.UserRegistered{
			UserId: userID, Email: email, UserName: userName, Name: fullName(firstName, lastName),
			EmailVerified: emailVerified, Realm: realm, Method: eventsv1.RegistrationMethod_REGISTRATION_METHOD_BACKFILL,
		},
	}
}

// checkIDs refuses an event id, user id or realm that Keycloak would not make: over 255 bytes, with control
// characters (they would end up in headers and logs), or ones that change a URL path ("/", "." or "..") when
// the user service calls Keycloak's admin API about the user.
func checkIDs(eventID, userID, realm string) error {
	for _, f := range []struct{ name, value string }{{"id", eventID}, {"userId", userID}, {"realm", realm}} {
		switch {
		case len(f.value) > 255:
			return fmt.Errorf("%w: %s is longer than 255 bytes", ErrInvalid, f.name)
		case strings.ContainsFunc(f.value, unicode.IsControl):
			return fmt.Errorf("%w: %s has control characters", ErrInvalid, f.name)
		case f.name != "id" && (strings.Contains(f.value, "/") || f.value == "." || f.value == ".."):
			return fmt.Errorf("%w: %s %q is not a path segment", ErrInvalid, f.name, f.value)
		}
	}
	return nil
}

func meta(id, realm, userID string, millis int64) events.Meta {
	return events.Meta{ID: id, Source: events.IdPSource(realm), Subject: userID, Time: time.UnixMilli(millis)}
}

// realmOf prefers the realm's name; Keycloak sends only the id in older versions, and the id of an
// imported realm usually is its name.
func realmOf(name, id string) string {
	if name != "" {
		return name
	}
	return id
}

func fullName(first, last string) string { return strings.TrimSpace(first + " " + last) }

// Package kcevent reads Keycloak's event representations (what its admin REST API returns and our
// event-listener provider sends) and maps those about users to the platform's CloudEvents.
package kcevent

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

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
	// BBQUser is the account as our provider read it inside the event's transaction; nil from older
	// providers, in stored events and when the user no longer exists.
	BBQUser *User `json:"bbqUser,omitempty"`
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
	BBQUser        *User          `json:"bbqUser,omitempty"` // as on Event
}

// User is the webhook's "bbqUser": the account as the provider read it in the event's transaction, so the
// state that transaction committed. The reconciler and backfill fill it from the admin API instead.
type User struct {
	ID                  string   `json:"id"`
	Username            string   `json:"username"`
	Email               string   `json:"email"`
	EmailVerified       bool     `json:"emailVerified"`
	FirstName           string   `json:"firstName"`
	LastName            string   `json:"lastName"`
	Enabled             bool     `json:"enabled"`
	CreatedTimestamp    int64    `json:"createdTimestamp"`
	FederatedIdentities []string `json:"federatedIdentities"` // identity-provider aliases
}

// State is the user as a UserState observed at the given time; nil for a nil user.
func (u *User) State(observed time.Time) *eventsv1.UserState {
	if u == nil {
		return nil
	}
	return &eventsv1.UserState{
		Email: u.Email, EmailVerified: u.EmailVerified, FirstName: u.FirstName, LastName: u.LastName,
		Enabled: u.Enabled, UserName: u.Username, IdentityProviders: slices.Clone(u.FederatedIdentities),
		ObservedAt: timestamppb.New(observed),
	}
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

// stateEventTypes are the Keycloak user events, besides those with a kind of their own, that can change an
// account's email, verification, name, enablement or identity-provider links (captured from Keycloak 26.7.3;
// see docs/keycloak.md). With a bbqUser they become UserStateChanged; without one they say nothing usable.
var stateEventTypes = []string{
	"IDENTITY_PROVIDER_FIRST_LOGIN", "IDENTITY_PROVIDER_LINK_ACCOUNT", "IDENTITY_PROVIDER_LOGIN",
	"FEDERATED_IDENTITY_LINK", "FEDERATED_IDENTITY_OVERRIDE_LINK", "REMOVE_FEDERATED_IDENTITY",
	"VERIFY_PROFILE", "RESET_PASSWORD", "UPDATE_CREDENTIAL", "EXECUTE_ACTIONS",
	"EXECUTE_ACTION_TOKEN", "CUSTOM_REQUIRED_ACTION", "USER_DISABLED_BY_PERMANENT_LOCKOUT",
}

// UserEventTypes are the Keycloak user event types idp-hook maps. The provider's EventFilter sends the same
// set, the realm stores them (enabledEventTypes), and the reconciler replays them.
func UserEventTypes() []string {
	return append([]string{"REGISTER", "VERIFY_EMAIL", "UPDATE_PROFILE", "UPDATE_EMAIL", "DELETE_ACCOUNT"}, stateEventTypes...)
}

// MapEvent maps a user event, with the state its bbqUser carries (observed at the event's time).
func MapEvent(e Event) (Mapped, error) {
	return MapEventState(e, e.BBQUser.State(time.UnixMilli(e.Time)))
}

// MapEventState maps a user event with the given state (nil: none). The reconciler uses it with a state read
// from the admin API, as stored events carry no bbqUser.
func MapEventState(e Event, st *eventsv1.UserState) (Mapped, error) {
	if e.Error != "" {
		return Mapped{}, fmt.Errorf("%w: %s failed with %q", ErrIgnored, e.Type, e.Error)
	}
	kind, data, err := userEventData(e, st)
	if err != nil {
		return Mapped{}, err
	}
	realm := realmOf(e.RealmName, e.RealmID)
	if e.ID == "" || e.UserID == "" || e.Time <= 0 || realm == "" {
		return Mapped{}, fmt.Errorf("%w: %s needs id, userId, realmId and time", ErrInvalid, e.Type)
	}
	if err := checkIDs(e.ID, e.UserID, realm); err != nil {
		return Mapped{}, err
	}
	if e.BBQUser != nil && e.BBQUser.ID != e.UserID {
		return Mapped{}, fmt.Errorf("%w: %s of user %q carries bbqUser %q", ErrInvalid, e.Type, e.UserID, e.BBQUser.ID)
	}
	if err := checkFields(detailFields(e.Details)...); err != nil {
		return Mapped{}, err
	}
	if err := CheckState(st); err != nil {
		return Mapped{}, err
	}
	return Mapped{Kind: kind, Data: data, Meta: meta(e.ID, realm, e.UserID, e.Time)}, nil
}

func userEventData(e Event, st *eventsv1.UserState) (events.Kind, proto.Message, error) {
	d, realm := e.Details, realmOf(e.RealmName, e.RealmID)
	switch e.Type {
	case "REGISTER":
		method := eventsv1.RegistrationMethod_REGISTRATION_METHOD_SELF_SERVICE
		if d["register_method"] == "broker" || d["identity_provider"] != "" {
			method = eventsv1.RegistrationMethod_REGISTRATION_METHOD_BROKERED
		}
		return events.UserRegistered, &eventsv1.UserRegistered{
			UserId: e.UserID, Email: d["email"], UserName: d["username"], Name: fullName(d["first_name"], d["last_name"]),
			EmailVerified: d["email_verified"] == "true", Realm: realm, Method: method, State: st,
		}, nil
	case "VERIFY_EMAIL":
		return events.UserEmailVerified, &eventsv1.UserEmailVerified{UserId: e.UserID, Email: d["email"], Realm: realm, State: st}, nil
	case "UPDATE_PROFILE":
		return events.UserProfileUpdated, &eventsv1.UserProfileUpdated{
			UserId: e.UserID, Email: d["updated_email"], Name: fullName(d["updated_first_name"], d["updated_last_name"]), Realm: realm, State: st,
		}, nil
	case "UPDATE_EMAIL":
		email := d["updated_email"]
		if email == "" {
			email = d["email"]
		}
		return events.UserProfileUpdated, &eventsv1.UserProfileUpdated{UserId: e.UserID, Email: email, Realm: realm, State: st}, nil
	case "DELETE_ACCOUNT":
		return events.IdPUserDeleted, &eventsv1.UserDeleted{UserId: e.UserID, Realm: realm}, nil
	}
	if !slices.Contains(stateEventTypes, e.Type) {
		return events.Kind{}, nil, fmt.Errorf("%w: user event type %q", ErrIgnored, e.Type)
	}
	return stateChanged(e.UserID, realm, st, e.Type)
}

// stateChanged is the event of a Keycloak event that has no kind of its own: only its state says anything.
func stateChanged(userID, realm string, st *eventsv1.UserState, cause string) (events.Kind, proto.Message, error) {
	if st == nil {
		return events.Kind{}, nil, fmt.Errorf("%w: %s without bbqUser (a provider before 0.3, or the user is gone)", ErrIgnored, cause)
	}
	return events.UserStateChanged, &eventsv1.UserStateChanged{UserId: userID, Realm: realm, State: st, Cause: cause}, nil
}

// MapAdminEvent maps an administrator's change of a user, with the state its bbqUser carries.
func MapAdminEvent(e AdminEvent) (Mapped, error) {
	return MapAdminEventState(e, e.BBQUser.State(time.UnixMilli(e.Time)))
}

// MapAdminEventState maps an administrator's create, update or delete of a user (and, when a state is given,
// the other changes of users/{id}: actions and identity-provider links) with the given state (nil: none).
func MapAdminEventState(e AdminEvent, st *eventsv1.UserState) (Mapped, error) {
	if e.ResourceType != "USER" || e.Error != "" {
		return Mapped{}, fmt.Errorf("%w: admin %s on %s", ErrIgnored, e.OperationType, e.ResourceType)
	}
	userID, sub, err := adminTarget(e)
	if err != nil {
		return Mapped{}, err
	}
	if e.ID == "" || e.Time <= 0 || realmOf(e.RealmName, e.RealmID) == "" {
		return Mapped{}, fmt.Errorf("%w: admin event needs id, realmId and time", ErrInvalid)
	}
	realm := realmOf(e.RealmName, e.RealmID)
	if err := checkIDs(e.ID, userID, realm); err != nil {
		return Mapped{}, err
	}
	if e.BBQUser != nil && e.BBQUser.ID != userID {
		return Mapped{}, fmt.Errorf("%w: admin event on %q carries bbqUser %q", ErrInvalid, e.ResourcePath, e.BBQUser.ID)
	}
	if err := CheckState(st); err != nil {
		return Mapped{}, err
	}
	m := Mapped{Meta: meta(e.ID, realm, userID, e.Time)}
	m.Kind, m.Data, err = adminEventData(e, userID, sub, realm, st)
	return m, err
}

// UserID is the user an admin event is about (users/{id} or one of its sub-resources), or "".
func (e AdminEvent) UserID() string {
	if e.ResourceType != "USER" {
		return ""
	}
	rest, ok := strings.CutPrefix(e.ResourcePath, "users/")
	id, _, _ := strings.Cut(rest, "/")
	if !ok {
		return ""
	}
	return id
}

// Observed is a state read from the admin API after the stored event afterID (the reconciler's: the newest
// event about the user in the page it replays), as an event of its own with cause "reconcile" and id
// reconcile-<afterID>: replaying that event again, after a restart or a re-read, publishes a duplicate that
// the bus and the consumers' inboxes drop. Any later change has a stored event of its own, so a newer id.
func Observed(realm, userID, afterID string, st *eventsv1.UserState) Mapped {
	at := st.GetObservedAt().AsTime().UnixMilli()
	return Mapped{Kind: events.UserStateChanged, Meta: meta("reconcile-"+afterID, realm, userID, at),
		Data: &eventsv1.UserStateChanged{UserId: userID, Realm: realm, State: st, Cause: "reconcile"}}
}

// Gone is the deletion of a user the admin API no longer knows (the reconciler's 404). Its id is derived
// from the user, so it is published once however often it is found.
func Gone(realm, userID string, observed time.Time) Mapped {
	return Mapped{Kind: events.IdPUserDeleted, Meta: meta("gone-"+userID, realm, userID, observed.UnixMilli()),
		Data: &eventsv1.UserDeleted{UserId: userID, Realm: realm}}
}

// adminTarget splits users/{id}[/sub-resource...]; only links to identity providers change a user's state
// among the sub-resources (credentials, sessions, groups and roles do not).
func adminTarget(e AdminEvent) (userID, sub string, err error) {
	rest, ok := strings.CutPrefix(e.ResourcePath, "users/")
	userID, sub, _ = strings.Cut(rest, "/")
	if !ok || userID == "" || (sub != "" && !strings.HasPrefix(sub, "federated-identity/")) {
		return "", "", fmt.Errorf("%w: admin %s on %q is not a user itself", ErrIgnored, e.OperationType, e.ResourcePath)
	}
	return userID, sub, nil
}

func adminEventData(e AdminEvent, userID, sub, realm string, st *eventsv1.UserState) (events.Kind, proto.Message, error) {
	cause := "admin " + e.OperationType
	switch {
	case sub != "":
		return stateChanged(userID, realm, st, cause+" federated-identity")
	case e.OperationType == "DELETE":
		return events.IdPUserDeleted, &eventsv1.UserDeleted{UserId: userID, Realm: realm}, nil
	case e.OperationType == "ACTION":
		return stateChanged(userID, realm, st, cause)
	case e.OperationType != "CREATE" && e.OperationType != "UPDATE":
		return events.Kind{}, nil, fmt.Errorf("%w: admin %s on a user", ErrIgnored, e.OperationType)
	}
	var u userRepresentation
	if err := json.Unmarshal([]byte(e.Representation), &u); err != nil {
		return events.Kind{}, nil, fmt.Errorf("%w: admin %s representation: %w", ErrInvalid, e.OperationType, err)
	}
	if err := checkFields(u.fields()...); err != nil {
		return events.Kind{}, nil, err
	}
	if e.OperationType == "CREATE" {
		return events.UserRegistered, &eventsv1.UserRegistered{
			UserId: userID, Email: u.Email, UserName: u.Username, Name: fullName(u.FirstName, u.LastName),
			EmailVerified: u.EmailVerified != nil && *u.EmailVerified, Realm: realm,
			Method: eventsv1.RegistrationMethod_REGISTRATION_METHOD_ADMIN, State: st,
		}, nil
	}
	return events.UserProfileUpdated, &eventsv1.UserProfileUpdated{
		UserId: userID, Email: u.Email, Name: fullName(u.FirstName, u.LastName), EmailVerified: u.EmailVerified, Realm: realm, State: st,
	}, nil
}

// Backfill maps an existing Keycloak user, as the admin API returned it at observed, to the registration it
// would have sent. Its id is derived from the user, so walking the realm again publishes nothing new.
func Backfill(realm string, u User, observed time.Time) Mapped {
	return Mapped{
		Kind: events.UserRegistered,
		Meta: meta("backfill-"+u.ID, realm, u.ID, u.CreatedTimestamp),
		Data: &eventsv1.UserRegistered{
			UserId: u.ID, Email: u.Email, UserName: u.Username, Name: fullName(u.FirstName, u.LastName),
			EmailVerified: u.EmailVerified, Realm: realm, Method: eventsv1.RegistrationMethod_REGISTRATION_METHOD_BACKFILL,
			State: u.State(observed),
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

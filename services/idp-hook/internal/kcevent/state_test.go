package kcevent_test

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/connectedbbq/platform/pkg/events"
	eventsv1 "github.com/connectedbbq/platform/pkg/gen/bbq/events/v1"
	"github.com/connectedbbq/platform/services/idp-hook/internal/kcevent"
)

const at = int64(1795520538756)

func bbqUser(id string, verified, enabled bool, idps ...string) *kcevent.User {
	return &kcevent.User{ID: id, Username: "ada@example.com", Email: "ada@example.com", EmailVerified: verified,
		FirstName: "Ada", LastName: "Lovelace", Enabled: enabled, CreatedTimestamp: at - 1000, FederatedIdentities: idps}
}

func stateJSON(verified, enabled bool, idps ...string) string {
	st := bbqUser("u1", verified, enabled, idps...).State(time.UnixMilli(at))
	b, _ := protojson.Marshal(st)
	return string(b)
}

// stateful is a payload that carries a state.
type stateful interface{ GetState() *eventsv1.UserState }

// Every mapped user event carries its bbqUser as the state, observed at the event's time; the events without a
// kind of their own become UserStateChanged with the Keycloak type as the cause, and only with a bbqUser.
func TestMapsBBQUserToState(t *testing.T) {
	tests := []struct {
		name  string
		event kcevent.Event
		kind  events.Kind
		cause string
		state string // "" = no state; else the protojson of the expected UserState
		err   error
	}{
		{"REGISTER", ev("REGISTER", bbqUser("u1", false, true)), events.UserRegistered, "", stateJSON(false, true), nil},
		{"VERIFY_EMAIL", ev("VERIFY_EMAIL", bbqUser("u1", true, true)), events.UserEmailVerified, "", stateJSON(true, true), nil},
		{"UPDATE_PROFILE", ev("UPDATE_PROFILE", bbqUser("u1", true, true)), events.UserProfileUpdated, "", stateJSON(true, true), nil},
		{"UPDATE_EMAIL keeps its kind", ev("UPDATE_EMAIL", bbqUser("u1", false, true)), events.UserProfileUpdated, "", stateJSON(false, true), nil},
		{"brokered first login", ev("IDENTITY_PROVIDER_FIRST_LOGIN", bbqUser("u1", true, true, "second")), events.UserStateChanged, "IDENTITY_PROVIDER_FIRST_LOGIN", stateJSON(true, true, "second"), nil},
		{"link removed", ev("REMOVE_FEDERATED_IDENTITY", bbqUser("u1", true, true)), events.UserStateChanged, "REMOVE_FEDERATED_IDENTITY", stateJSON(true, true), nil},
		{"lockout disables", ev("USER_DISABLED_BY_PERMANENT_LOCKOUT", bbqUser("u1", true, false)), events.UserStateChanged, "USER_DISABLED_BY_PERMANENT_LOCKOUT", stateJSON(true, false), nil},
		{"reset password, with a state", ev("RESET_PASSWORD", bbqUser("u1", true, true)), events.UserStateChanged, "RESET_PASSWORD", stateJSON(true, true), nil},
		{"old provider: REGISTER without state", ev("REGISTER", nil), events.UserRegistered, "", "", nil},
		{"old provider: state-only type is ignored", ev("FEDERATED_IDENTITY_LINK", nil), events.Kind{}, "", "", kcevent.ErrIgnored},
		{"DELETE_ACCOUNT has no state", ev("DELETE_ACCOUNT", nil), events.IdPUserDeleted, "", "", nil},
		{"LOGIN stays ignored with a bbqUser", ev("LOGIN", bbqUser("u1", true, true)), events.Kind{}, "", "", kcevent.ErrIgnored},
		{"bbqUser of another user", ev("REGISTER", bbqUser("u2", false, true)), events.Kind{}, "", "", kcevent.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := kcevent.MapEvent(tt.event)
			checkMapped(t, m, err, tt.kind, tt.cause, tt.state, tt.err)
		})
	}
}

func ev(typ string, u *kcevent.User) kcevent.Event {
	return kcevent.Event{ID: "e1", Time: at, Type: typ, RealmID: "bbq", UserID: "u1", BBQUser: u,
		Details: map[string]string{"email": "ada@example.com", "username": "ada@example.com"}}
}

func admin(op, path string, u *kcevent.User) kcevent.AdminEvent {
	return kcevent.AdminEvent{ID: "a1", Time: at, RealmID: "bbq", OperationType: op, ResourceType: "USER", ResourcePath: path,
		Representation: `{"username":"ada@example.com","email":"ada@example.com","emailVerified":true,"enabled":false}`, BBQUser: u}
}

func TestMapsAdminEventsWithState(t *testing.T) {
	tests := []struct {
		name  string
		event kcevent.AdminEvent
		kind  events.Kind
		cause string
		state string
		err   error
	}{
		{"CREATE", admin("CREATE", "users/u1", bbqUser("u1", true, true)), events.UserRegistered, "", stateJSON(true, true), nil},
		{"UPDATE (disable)", admin("UPDATE", "users/u1", bbqUser("u1", true, false)), events.UserProfileUpdated, "", stateJSON(true, false), nil},
		{"UPDATE from an old provider", admin("UPDATE", "users/u1", nil), events.UserProfileUpdated, "", "", nil},
		{"link an identity provider", admin("CREATE", "users/u1/federated-identity/github", bbqUser("u1", true, true, "github")), events.UserStateChanged, "admin CREATE federated-identity", stateJSON(true, true, "github"), nil},
		{"unlink", admin("DELETE", "users/u1/federated-identity/github", bbqUser("u1", true, true)), events.UserStateChanged, "admin DELETE federated-identity", stateJSON(true, true), nil},
		{"unlink from an old provider", admin("DELETE", "users/u1/federated-identity/github", nil), events.Kind{}, "", "", kcevent.ErrIgnored},
		{"ACTION on the user", admin("ACTION", "users/u1", bbqUser("u1", true, true)), events.UserStateChanged, "admin ACTION", stateJSON(true, true), nil},
		{"reset-password is not a state", admin("ACTION", "users/u1/reset-password", bbqUser("u1", true, true)), events.Kind{}, "", "", kcevent.ErrIgnored},
		{"DELETE", admin("DELETE", "users/u1", nil), events.IdPUserDeleted, "", "", nil},
		{"bbqUser of another user", admin("UPDATE", "users/u1", bbqUser("u2", true, true)), events.Kind{}, "", "", kcevent.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := kcevent.MapAdminEvent(tt.event)
			checkMapped(t, m, err, tt.kind, tt.cause, tt.state, tt.err)
		})
	}
}

func checkMapped(t *testing.T, m kcevent.Mapped, err error, kind events.Kind, cause, state string, wantErr error) {
	t.Helper()
	if wantErr != nil {
		if !errors.Is(err, wantErr) {
			t.Fatalf("err = %v, want %v", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind.Type != kind.Type {
		t.Fatalf("kind = %s, want %s", m.Kind.Type, kind.Type)
	}
	if _, err := events.New(m.Kind, m.Meta, m.Data); err != nil {
		t.Fatalf("not a valid CloudEvent: %v", err)
	}
	if sc, ok := m.Data.(*eventsv1.UserStateChanged); ok && sc.GetCause() != cause {
		t.Errorf("cause = %q, want %q", sc.GetCause(), cause)
	}
	var got *eventsv1.UserState
	if p, ok := m.Data.(stateful); ok {
		got = p.GetState()
	}
	if state == "" {
		if got != nil {
			t.Fatalf("state = %v, want none", got)
		}
		return
	}
	b, _ := protojson.Marshal(got)
	if !jsonEqual(t, b, []byte(state)) {
		t.Fatalf("state = %s\nwant    %s", b, state)
	}
}

// The reconciler maps stored events (no bbqUser) with the state the admin API gave it.
func TestMapsStoredEventsWithAGivenState(t *testing.T) {
	observed := time.UnixMilli(at + 60_000)
	st := bbqUser("u1", true, true).State(observed)
	m, err := kcevent.MapEventState(ev("IDENTITY_PROVIDER_LINK_ACCOUNT", nil), st)
	if err != nil {
		t.Fatal(err)
	}
	sc := m.Data.(*eventsv1.UserStateChanged)
	if !sc.GetState().GetObservedAt().AsTime().Equal(observed) || m.Meta.Time.UnixMilli() != at {
		t.Fatalf("observed_at %v, event time %v", sc.GetState().GetObservedAt().AsTime(), m.Meta.Time)
	}
	b := kcevent.Backfill("bbq", *bbqUser("u1", true, false, "github"), observed)
	reg := b.Data.(*eventsv1.UserRegistered)
	if b.Meta.ID != "backfill-u1" || reg.GetState().GetEnabled() || reg.GetState().GetIdentityProviders()[0] != "github" {
		t.Fatalf("backfill = %+v %v", b.Meta, reg)
	}
	g := kcevent.Gone("bbq", "u1", observed)
	if g.Meta.ID != "gone-u1" || g.Kind.Type != events.IdPUserDeleted.Type {
		t.Fatalf("gone = %+v", g)
	}
}

// A state the reconciler read travels under an id derived from the stored event it follows, not from when it
// was read: replaying that event again is a duplicate.
func TestObservedStateIDFollowsTheStoredEvent(t *testing.T) {
	a := kcevent.Observed("bbq", "u1", "ev-1", bbqUser("u1", true, true).State(time.UnixMilli(at)))
	b := kcevent.Observed("bbq", "u1", "ev-1", bbqUser("u1", true, true).State(time.UnixMilli(at+60_000)))
	if a.Meta.ID != "reconcile-ev-1" || b.Meta.ID != a.Meta.ID || a.Meta.Source != events.IdPSource("bbq") {
		t.Fatalf("ids %q, %q (source %q), want reconcile-ev-1 for both", a.Meta.ID, b.Meta.ID, a.Meta.Source)
	}
}

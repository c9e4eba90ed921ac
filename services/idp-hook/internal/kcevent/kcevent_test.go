package kcevent_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/connectedbbq/platform/pkg/events"
	eventsv1 "github.com/connectedbbq/platform/pkg/gen/bbq/events/v1"
	"github.com/connectedbbq/platform/services/idp-hook/internal/kcevent"
)

// wantState is what a fixture's state must say (the rest is the fixture's own: ids, times).
type wantState struct {
	email             string
	verified, enabled bool
	idps              []string
}

// The fixtures are captured from a real Keycloak by testing/kctest (see its capture tests), with the provider's
// bbqUser.
func TestMapsCapturedKeycloakEvents(t *testing.T) {
	const ada, king, grace = "ada.lovelace@example.com", "ada.king@example.com", "grace@example.com"
	tests := []struct {
		file     string
		admin    bool
		kind     events.Kind
		wantData string     // canonical JSON of the payload without its state; $USER and $REALM come from the fixture
		state    *wantState // nil: no state
	}{
		{"register.json", false, events.UserRegistered, `{"userId":"$USER","email":"ada.lovelace@example.com","userName":"ada.lovelace@example.com","name":"Ada Lovelace","realm":"$REALM","method":"REGISTRATION_METHOD_SELF_SERVICE"}`, &wantState{ada, false, true, nil}},
		{"verify_email.json", false, events.UserEmailVerified, ``, &wantState{ada, true, true, nil}},
		{"update_profile.json", false, events.UserProfileUpdated, `{"userId":"$USER","name":"Ada King","realm":"$REALM"}`, &wantState{ada, true, true, nil}},
		{"admin_user_create.json", true, events.UserRegistered, ``, &wantState{grace, true, true, nil}},
		{"admin_user_update.json", true, events.UserProfileUpdated, `{"userId":"$USER","email":"ada.lovelace@example.com","name":"Ada Lovelace","emailVerified":true,"realm":"$REALM"}`, &wantState{ada, true, true, nil}},
		{"admin_user_delete.json", true, events.IdPUserDeleted, ``, nil},
		{"delete_account.json", false, events.IdPUserDeleted, `{"userId":"$USER","realm":"$REALM"}`, nil},
		// user-service's own write-back of the tenant: the representation carries no emailVerified, and the
		// mapped event must not claim one (user-service recognises it as its own and does not loop).
		{"admin_user_update_writeback.json", true, events.UserProfileUpdated, `{"userId":"$USER","email":"ada.lovelace@example.com","name":"Ada Lovelace","realm":"$REALM"}`, &wantState{ada, true, true, nil}},
		// The person changes the email (UPDATE_EMAIL action) and follows the link mailed to the new address.
		{"update_email.json", false, events.UserProfileUpdated, ``, &wantState{king, true, true, nil}},
		{"verify_email_after_unverify.json", false, events.UserEmailVerified, ``, &wantState{king, true, true, nil}},
		{"admin_user_disable.json", true, events.UserProfileUpdated, ``, &wantState{king, true, false, nil}},
		{"admin_user_enable.json", true, events.UserProfileUpdated, ``, &wantState{king, true, true, nil}},
		{"admin_user_unverify.json", true, events.UserProfileUpdated, ``, &wantState{king, false, true, nil}},
		{"admin_link_identity.json", true, events.UserStateChanged, ``, &wantState{king, true, true, []string{"second-realm"}}},
		{"admin_unlink_identity.json", true, events.UserStateChanged, ``, &wantState{king, true, true, nil}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b := fixture(t, tt.file)
			m, err := mapJSON(b, tt.admin)
			if err != nil {
				t.Fatal(err)
			}
			if m.Kind.Type != tt.kind.Type {
				t.Fatalf("kind = %s, want %s", m.Kind.Type, tt.kind.Type)
			}
			if m.Meta.ID == "" || m.Meta.Subject == "" || m.Meta.Time.IsZero() {
				t.Fatalf("incomplete envelope %+v", m.Meta)
			}
			if _, err := events.New(m.Kind, m.Meta, m.Data); err != nil {
				t.Fatalf("not a valid CloudEvent: %v", err)
			}
			checkState(t, m, tt.state)
			if tt.wantData != "" {
				got, _ := protojson.Marshal(withoutState(m.Data))
				want := strings.NewReplacer(`"$USER"`, strconv.Quote(m.Meta.Subject), `"$REALM"`, strconv.Quote(realmIDOf(t, b))).Replace(tt.wantData)
				if !jsonEqual(t, got, []byte(want)) {
					t.Fatalf("data = %s\nwant  %s", got, tt.wantData)
				}
			}
		})
	}
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "keycloak", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkState compares the mapped state with the fixture's expectation; observed_at is the event's time.
func checkState(t *testing.T, m kcevent.Mapped, want *wantState) {
	t.Helper()
	var st *eventsv1.UserState
	if p, ok := m.Data.(interface{ GetState() *eventsv1.UserState }); ok {
		st = p.GetState()
	}
	if want == nil {
		if st != nil {
			t.Fatalf("state %v, want none", st)
		}
		return
	}
	if st == nil {
		t.Fatal("no state")
	}
	if st.GetEmail() != want.email || st.GetEmailVerified() != want.verified || st.GetEnabled() != want.enabled ||
		!slices.Equal(st.GetIdentityProviders(), want.idps) || st.GetUserName() == "" {
		t.Errorf("state = %v, want %+v", st, *want)
	}
	if !st.GetObservedAt().AsTime().Equal(m.Meta.Time) {
		t.Errorf("observed_at %v, want the event time %v", st.GetObservedAt().AsTime(), m.Meta.Time)
	}
}

// withoutState is the payload with its state cleared, to compare the event's own fields.
func withoutState(m proto.Message) proto.Message {
	c := proto.Clone(m)
	if fd := c.ProtoReflect().Descriptor().Fields().ByName("state"); fd != nil {
		c.ProtoReflect().Clear(fd)
	}
	return c
}

// realmIDOf reads the realm id from a fixture: the realm the mapping must name.
func realmIDOf(t *testing.T, fixture []byte) string {
	var e struct {
		RealmID string `json:"realmId"`
	}
	if err := json.Unmarshal(fixture, &e); err != nil {
		t.Fatal(err)
	}
	return e.RealmID
}

func mapJSON(b []byte, admin bool) (kcevent.Mapped, error) {
	if admin {
		var e kcevent.AdminEvent
		if err := json.Unmarshal(b, &e); err != nil {
			return kcevent.Mapped{}, err
		}
		return kcevent.MapAdminEvent(e)
	}
	var e kcevent.Event
	if err := json.Unmarshal(b, &e); err != nil {
		return kcevent.Mapped{}, err
	}
	return kcevent.MapEvent(e)
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		t.Fatalf("not JSON: %s / %s", a, b)
	}
	ax, _ := json.Marshal(x)
	by, _ := json.Marshal(y)
	return string(ax) == string(by)
}

// FuzzMap feeds arbitrary bodies to both mappers: they may refuse, never panic, and whatever
// they accept must be a valid CloudEvent.
func FuzzMap(f *testing.F) {
	names, err := filepath.Glob(filepath.Join("..", "..", "testdata", "keycloak", "*.json"))
	if err != nil || len(names) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, name := range names {
		f.Add(fixture(f, filepath.Base(name)), strings.HasPrefix(filepath.Base(name), "admin"))
	}
	f.Fuzz(func(t *testing.T, body []byte, admin bool) {
		m, err := mapJSON(body, admin)
		if err != nil {
			if !errors.Is(err, kcevent.ErrIgnored) && !errors.Is(err, kcevent.ErrInvalid) {
				var syn *json.SyntaxError
				var typ *json.UnmarshalTypeError
				if !errors.As(err, &syn) && !errors.As(err, &typ) && err.Error() == "" {
					t.Fatalf("unexplained error %v", err)
				}
			}
			return
		}
		if _, err := events.New(m.Kind, m.Meta, m.Data); err != nil {
			t.Fatalf("accepted %q but built no valid CloudEvent: %v", body, err)
		}
	})
}

// UPDATE_EMAIL is not in the captured fixtures (it needs Keycloak's update-email feature); its details
// are previous_email and updated_email, as Keycloak's UpdateEmail action records them.
func TestMapsUpdateEmail(t *testing.T) {
	tests := []struct {
		name    string
		details map[string]string
		want    string
	}{
		{"updated_email", map[string]string{"previous_email": "old@example.com", "updated_email": "new@example.com"}, "new@example.com"},
		{"email only", map[string]string{"email": "new@example.com"}, "new@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := kcevent.MapEvent(kcevent.Event{ID: "e1", Time: 1795520538756, Type: "UPDATE_EMAIL", RealmID: "bbq", UserID: "u1", Details: tt.details})
			if err != nil {
				t.Fatal(err)
			}
			data, ok := m.Data.(*eventsv1.UserProfileUpdated)
			if m.Kind.Type != events.UserProfileUpdated.Type || !ok || data.GetEmail() != tt.want || data.GetUserId() != "u1" {
				t.Fatalf("mapped to %s %v", m.Kind.Type, m.Data)
			}
		})
	}
}

// Identifiers that Keycloak would not make are refused: they would reach NATS headers, logs, SQL and the
// admin API's URL paths. Ordinary ones, including SQL-looking text, pass untouched (queries bind them).
func TestRefusesIdentifiersKeycloakWouldNotMake(t *testing.T) {
	register := func(id, userID, realm string) kcevent.Event {
		return kcevent.Event{ID: id, Time: 1, Type: "REGISTER", RealmID: realm, UserID: userID,
			Details: map[string]string{"email": "a@example.com", "username": "a@example.com"}}
	}
	tests := []struct {
		name    string
		event   kcevent.Event
		admin   *kcevent.AdminEvent
		invalid bool
	}{
		{"a UUID user", register("e-1", "6f1c3a52-8a1e-4c0b-9d0e-2b7f5b0a1c11", "bbq"), nil, false},
		{"SQL-looking user id, bound not spliced", register("e-2", "u'; DROP TABLE users;--", "bbq"), nil, false},
		{"user id with a slash", register("e-3", "u/../../clients", "bbq"), nil, true},
		{"user id ..", register("e-4", "..", "bbq"), nil, true},
		{"user id .", register("e-5", ".", "bbq"), nil, true},
		{"realm ..", register("e-6", "u", ".."), nil, true},
		{"event id with CR LF (header injection)", register("e-7\r\nNats-Expected-Stream: OTHER", "u", "bbq"), nil, true},
		{"user id with a NUL", register("e-8", "u\x00v", "bbq"), nil, true},
		{"user id over 255 bytes", register("e-9", strings.Repeat("u", 256), "bbq"), nil, true},
		{"admin CREATE on users/..", kcevent.Event{}, &kcevent.AdminEvent{ID: "a-1", Time: 1, RealmID: "bbq",
			OperationType: "CREATE", ResourceType: "USER", ResourcePath: "users/..", Representation: "{}"}, true},
		{"admin event id with a newline", kcevent.Event{}, &kcevent.AdminEvent{ID: "a-2\n", Time: 1, RealmID: "bbq",
			OperationType: "DELETE", ResourceType: "USER", ResourcePath: "users/u"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := mapEither(tt.event, tt.admin)
			if got := errors.Is(err, kcevent.ErrInvalid); got != tt.invalid {
				t.Fatalf("err = %v, want invalid = %v", err, tt.invalid)
			}
		})
	}
}

package kcevent_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	eventsv1 "github.com/connectedbbq/platform/pkg/gen/bbq/events/v1"
	"github.com/connectedbbq/platform/services/idp-hook/internal/kcevent"
)

// mapEither maps admin if set, else e, and returns the error.
func mapEither(e kcevent.Event, admin *kcevent.AdminEvent) error {
	if admin != nil {
		_, err := kcevent.MapAdminEvent(*admin)
		return err
	}
	_, err := kcevent.MapEvent(e)
	return err
}

// wantRefused checks err: nil when field is "", else ErrInvalid naming field.
func wantRefused(t *testing.T, err error, field string) {
	t.Helper()
	switch {
	case field == "" && err != nil:
		t.Fatalf("refused: %v", err)
	case field != "" && !errors.Is(err, kcevent.ErrInvalid):
		t.Fatalf("err = %v, want ErrInvalid naming %s", err, field)
	case field != "" && !strings.Contains(err.Error(), field+" "):
		t.Fatalf("err = %q does not name %s", err, field)
	}
}

// Emails are held to the shape Keycloak's EmailValidationUtil accepts, and to 254 characters.
func TestEmailsAreShapedLikeAddresses(t *testing.T) {
	tests := []struct {
		email   string
		refused bool
	}{
		{"ada@example.com", false},
		{"Ada.Lovelace+bbq@sub.example.co.uk", false},
		{"o'brien{x}@example.ie", false},
		{"josé@exämple.de", false},
		{`"john doe"@example.com`, false},
		{`"a\"b\\c"@example.com`, false},
		{"a@localhost", false},
		{"a@[192.0.2.1]", false},
		{"a@[IPv6:2001:db8::1]", false},
		{" ada@example.com ", false}, // Keycloak trims before it validates
		{strings.Repeat("l", 64) + "@example.com", false},
		{strings.Repeat("l", 64) + "@" + strings.Repeat("d", 63) + "." + strings.Repeat("d", 63) + "." + strings.Repeat("d", 57) + ".com", false}, // 254
		{"", false}, // not reported
		{"ada", true},
		{"ada@", true},
		{"@example.com", true},
		{"a@b@example.com", true},
		{"a..b@example.com", true},
		{".a@example.com", true},
		{"a.@example.com", true},
		{"a b@example.com", true},
		{`"a"b"@example.com`, true},
		{`"a\b"@example.com`, true},
		{"a@-example.com", true},
		{"a@example-.com", true},
		{"a@example.com.", true},
		{"a@exa_mple.com", true},
		{"a@example..com", true},
		{"a@" + strings.Repeat("d", 64) + ".com", true},
		{"a@[300.1.1.1]", true},
		{"a@[2001:db8::1]", true},
		{"a@[IPv6:192.0.2.1]", true},
		{strings.Repeat("l", 65) + "@example.com", true},
		{strings.Repeat("l", 64) + "@" + strings.Repeat("d", 63) + "." + strings.Repeat("d", 63) + "." + strings.Repeat("d", 58) + ".com", true}, // 255
		{strings.Repeat("a", 5000) + "@example.com", true},
		{"ada\x00@example.com", true},
		{"ada@example.com\r\nBcc: eve@example.com", true},
		{"ada\u0085@example.com", true}, // C1 control (NEL)
		{"\xffada@example.com", true},
	}
	for _, tt := range tests {
		t.Run(tt.email, func(t *testing.T) {
			_, err := kcevent.MapEvent(kcevent.Event{ID: "e1", Time: 1, Type: "VERIFY_EMAIL", RealmID: "bbq", UserID: "u1",
				Details: map[string]string{"email": tt.email}})
			want := ""
			if tt.refused {
				want = "details.email"
			}
			wantRefused(t, err, want)
		})
	}
}

// Every string field that a mapping copies is checked, in user events and in admin representations; the 400
// names the field. Ordinary hostile-looking text (SQL, HTML, emoji) is Keycloak's to allow and passes.
func TestRefusesFieldsKeycloakWouldNeverSend(t *testing.T) {
	long := strings.Repeat("n", 256)
	user := func(typ string, details map[string]string) kcevent.Event {
		return kcevent.Event{ID: "e1", Time: 1, Type: typ, RealmID: "bbq", UserID: "u1", Details: details}
	}
	admin := func(op string, rep map[string]any) *kcevent.AdminEvent {
		b, _ := json.Marshal(rep)
		return &kcevent.AdminEvent{ID: "a1", Time: 1, RealmID: "bbq", OperationType: op, ResourceType: "USER",
			ResourcePath: "users/u1", Representation: string(b)}
	}
	tests := []struct {
		name  string
		event kcevent.Event
		admin *kcevent.AdminEvent
		field string // "" when accepted
	}{
		{"ordinary register", user("REGISTER", map[string]string{"email": "a@example.com", "username": "a@example.com", "first_name": "Ada", "last_name": "Lovelace"}), nil, ""},
		{"255-character names", user("REGISTER", map[string]string{"email": "a@example.com", "first_name": long[1:], "last_name": long[1:]}), nil, ""},
		{"SQL, HTML and emoji in names", user("REGISTER", map[string]string{"email": "a@example.com", "first_name": "Robert'); DROP TABLE users;--", "last_name": "<b>🔥</b>"}), nil, ""},
		{"unknown extra details", user("REGISTER", map[string]string{"email": "a@example.com", "custom_attribute": "\x00 not copied"}), nil, ""},
		{"NUL in first name", user("REGISTER", map[string]string{"email": "a@example.com", "first_name": "Pat\x00"}), nil, "details.first_name"},
		{"escape in last name", user("REGISTER", map[string]string{"email": "a@example.com", "last_name": "\x1b[31mGriller"}), nil, "details.last_name"},
		{"newline in username", user("REGISTER", map[string]string{"email": "a@example.com", "username": "a\nb"}), nil, "details.username"},
		{"256-character first name", user("REGISTER", map[string]string{"email": "a@example.com", "first_name": long}), nil, "details.first_name"},
		{"5006-character email", user("REGISTER", map[string]string{"email": strings.Repeat("a", 4994) + "@example.com"}), nil, "details.email"},
		{"tab in updated first name", user("UPDATE_PROFILE", map[string]string{"updated_first_name": "Ada\tK"}), nil, "details.updated_first_name"},
		{"256-character updated last name", user("UPDATE_PROFILE", map[string]string{"updated_last_name": long}), nil, "details.updated_last_name"},
		{"updated email not an address", user("UPDATE_EMAIL", map[string]string{"updated_email": "not-an-address"}), nil, "details.updated_email"},
		{"admin create, NUL in firstName", kcevent.Event{}, admin("CREATE", map[string]any{"username": "a", "email": "a@example.com", "firstName": "A\x00"}), "representation.firstName"},
		{"admin create, DEL in lastName", kcevent.Event{}, admin("CREATE", map[string]any{"username": "a", "lastName": "A\x7f"}), "representation.lastName"},
		{"admin update, long email", kcevent.Event{}, admin("UPDATE", map[string]any{"email": strings.Repeat("a", 250) + "@b.cd"}), "representation.email"},
		{"admin update, NUL in username", kcevent.Event{}, admin("UPDATE", map[string]any{"username": "\x00"}), "representation.username"},
		{"admin update, unknown extra fields", kcevent.Event{}, admin("UPDATE", map[string]any{"email": "a@example.com", "attributes": map[string]any{"x": []string{"\x00"}}, "totp": false}), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := mapEither(tt.event, tt.admin)
			wantRefused(t, err, tt.field)
		})
	}
}

func TestCheckState(t *testing.T) {
	ok := func() *eventsv1.UserState {
		return &eventsv1.UserState{Email: "a@example.com", UserName: "a@example.com", FirstName: "Ada", LastName: "Lovelace",
			EmailVerified: true, Enabled: true, IdentityProviders: []string{"google"}}
	}
	with := func(f func(*eventsv1.UserState)) *eventsv1.UserState { s := ok(); f(s); return s }
	tests := []struct {
		name  string
		state *eventsv1.UserState
		field string
	}{
		{"none (older provider)", nil, ""},
		{"ordinary", ok(), ""},
		{"NUL in first name", with(func(s *eventsv1.UserState) { s.FirstName = "A\x00" }), "state.first_name"},
		{"256-character last name", with(func(s *eventsv1.UserState) { s.LastName = strings.Repeat("l", 256) }), "state.last_name"},
		{"CR in username", with(func(s *eventsv1.UserState) { s.UserName = "a\r" }), "state.user_name"},
		{"email not an address", with(func(s *eventsv1.UserState) { s.Email = "a@@example.com" }), "state.email"},
		{"newline in an identity provider", with(func(s *eventsv1.UserState) { s.IdentityProviders = append(s.IdentityProviders, "x\ny") }), "state.identity_providers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantRefused(t, kcevent.CheckState(tt.state), tt.field) })
	}
}

package receiver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/connectedbbq/platform/pkg/bus"
	"github.com/connectedbbq/platform/pkg/events"
	eventsv1 "github.com/connectedbbq/platform/pkg/gen/bbq/events/v1"
	"github.com/connectedbbq/platform/pkg/webhook"
	"github.com/connectedbbq/platform/services/idp-hook/internal/hooktest"
	"github.com/connectedbbq/platform/services/idp-hook/internal/kcevent"
	"github.com/connectedbbq/platform/services/idp-hook/internal/receiver"
	"github.com/connectedbbq/platform/testing/natstest"
)

type fixture struct {
	bus     *natstest.Bus
	srv     *httptest.Server
	metrics *receiver.Metrics
}

// newFixture takes any realm's events (the captured ones come from the Keycloak tests' realms).
func newFixture(t *testing.T) *fixture { t.Helper(); return newRealmFixture(t, "") }

// newRealmFixture takes realm's events only, as idp-hook does with KEYCLOAK_REALM.
func newRealmFixture(t *testing.T, realm string) *fixture {
	t.Helper()
	b := natstest.New(t)
	reg := prometheus.NewRegistry()
	m := receiver.NewMetrics(reg)
	mux := http.NewServeMux()
	receiver.New(receiver.Options{
		Verifier:       webhook.NewVerifier([]webhook.Secret{hooktest.SecretKey}, 5*time.Minute),
		Publisher:      bus.NewPublisher(b.JS),
		MaxBodyBytes:   256 << 10,
		PublishTimeout: 2 * time.Second,
		RetryAfter:     5 * time.Second,
		Log:            slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics:        m,
		Realm:          realm,
	}).Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &fixture{bus: b, srv: srv, metrics: m}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRegisterIsPublishedOnceAsCloudEvent(t *testing.T) {
	f := newFixture(t)
	url := f.srv.URL + receiver.EventsPath
	reg := hooktest.Register("kc-evt-1", "user-1", "pat@example.com", time.Now())
	for range 3 { // Keycloak's retries of the same event
		if got := hooktest.Post(t, f.srv.Client(), url, "kc-evt-1", reg); got != http.StatusAccepted {
			t.Fatalf("status = %d, want 202", got)
		}
	}
	msgs := f.bus.Messages(t, events.UserRegistered.Subject)
	if len(msgs) != 1 {
		t.Fatalf("%d messages on the bus, want 1", len(msgs))
	}
	if got := msgs[0].Header.Get("Nats-Msg-Id"); got != "kc-evt-1" {
		t.Errorf("Nats-Msg-Id = %q, want the Keycloak event id", got)
	}
	d, err := events.Decode(msgs[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	ev, data := d.Event, d.Data.(*eventsv1.UserRegistered)
	checks := map[string][2]string{
		"id":          {ev.ID(), "kc-evt-1"},
		"type":        {ev.Type(), "com.connectedbbq.idp.user.registered.v1"},
		"source":      {ev.Source(), "/idp/keycloak/realms/bbq"},
		"subject":     {ev.Subject(), "user-1"},
		"dataschema":  {ev.DataSchema(), "proto:bbq.events.v1.UserRegistered"},
		"contenttype": {ev.DataContentType(), "application/json"},
		"email":       {data.GetEmail(), "pat@example.com"},
		"name":        {data.GetName(), "Pat Griller"},
		"method":      {data.GetMethod().String(), "REGISTRATION_METHOD_SELF_SERVICE"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", name, c[0], c[1])
		}
	}
	if tp, _ := ev.Extensions()["traceparent"].(string); len(tp) != 55 {
		t.Errorf("traceparent = %q, want a W3C trace context", tp)
	}
	if got := testutil.ToFloat64(f.metrics.Webhooks.WithLabelValues("events", "duplicate")); got != 2 {
		t.Errorf("duplicates counted = %v, want 2", got)
	}
}

// A webhook whose bbqUser says what changed is published with that state; here the captured admin link of an
// identity provider, which has no kind of its own.
func TestStateOnlyEventIsPublishedAsStateChanged(t *testing.T) {
	f := newFixture(t)
	body, err := os.ReadFile(filepath.Join("..", "..", "testdata", "keycloak", "admin_link_identity.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e kcevent.AdminEvent
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatal(err)
	}
	resp, err := f.srv.Client().Do(hooktest.Request(t, f.srv.URL+receiver.AdminEventsPath, e.ID, body, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	msgs := f.bus.Messages(t, events.UserStateChanged.Subject)
	if resp.StatusCode != http.StatusAccepted || len(msgs) != 1 {
		t.Fatalf("status %d, %d messages on %s", resp.StatusCode, len(msgs), events.UserStateChanged.Subject)
	}
	d, err := events.Decode(msgs[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	sc := d.Data.(*eventsv1.UserStateChanged)
	if sc.GetCause() != "admin CREATE federated-identity" || sc.GetState().GetIdentityProviders()[0] != "second-realm" ||
		!sc.GetState().GetEmailVerified() || sc.GetUserId() != d.Event.Subject() {
		t.Fatalf("published %v", sc)
	}
}

// Every bad request gets its status and nothing reaches the bus.
func TestBadWebhooksAreRefusedAndNothingIsPublished(t *testing.T) {
	f := newFixture(t)
	events := f.srv.URL + receiver.EventsPath
	admin := f.srv.URL + receiver.AdminEventsPath
	good := mustJSON(t, hooktest.Register("kc-evt-2", "user-2", "sam@example.com", time.Now()))
	signed := func(url string, body []byte, at time.Time) *http.Request {
		return hooktest.Request(t, url, "wh-1", body, at)
	}
	tests := []struct {
		name string
		req  *http.Request
		want int
	}{
		{"no signature", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, events, bytes.NewReader(good))
			return r
		}(), http.StatusUnauthorized},
		{"forged signature", func() *http.Request {
			r := signed(events, good, time.Now())
			r.Header.Set(webhook.HeaderSignature, "v1,"+strings.Repeat("A", 44))
			return r
		}(), http.StatusUnauthorized},
		{"signed by another key", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, events, bytes.NewReader(good))
			webhook.SignRequest(r.Header, []webhook.Secret{[]byte("another-secret-0123456789abcdef")}, "wh-1", time.Now(), good)
			return r
		}(), http.StatusUnauthorized},
		{"stale timestamp (replay)", signed(events, good, time.Now().Add(-10*time.Minute)), http.StatusUnauthorized},
		{"body swapped after signing", func() *http.Request {
			r := signed(events, good, time.Now())
			r.Body = io.NopCloser(bytes.NewReader(bytes.Replace(good, []byte("sam@"), []byte("eve@"), 1)))
			return r
		}(), http.StatusUnauthorized},
		{"over 256 KiB", signed(events, bytes.Repeat([]byte(" "), 256<<10+1), time.Now()), http.StatusRequestEntityTooLarge},
		{"not JSON", signed(events, []byte("REGISTER user-2"), time.Now()), http.StatusBadRequest},
		{"truncated JSON", signed(events, good[:len(good)/2], time.Now()), http.StatusBadRequest},
		{"wrong-typed field", signed(events, []byte(`{"id":"x","type":"REGISTER","time":"yesterday"}`), time.Now()), http.StatusBadRequest},
		{"REGISTER without user", signed(events, mustJSON(t, kcevent.Event{ID: "e", Time: 1, Type: "REGISTER", RealmID: "bbq"}), time.Now()), http.StatusBadRequest},
		{"user id that would change a URL path", signed(events, mustJSON(t, kcevent.Event{ID: "e", Time: 1, Type: "REGISTER", RealmID: "bbq", UserID: ".."}), time.Now()), http.StatusBadRequest},
		{"event id with CR LF", signed(events, mustJSON(t, kcevent.Event{ID: "e\r\nX-Injected: 1", Time: 1, Type: "VERIFY_EMAIL", RealmID: "bbq", UserID: "u"}), time.Now()), http.StatusBadRequest},
		{"admin CREATE with bad representation", signed(admin, mustJSON(t, kcevent.AdminEvent{ID: "a", Time: 1, RealmID: "bbq",
			OperationType: "CREATE", ResourceType: "USER", ResourcePath: "users/u", Representation: "{"}), time.Now()), http.StatusBadRequest},
		{"LOGIN is ignored", signed(events, mustJSON(t, kcevent.Event{ID: "l", Time: 1, Type: "LOGIN", RealmID: "bbq", UserID: "u"}), time.Now()), http.StatusAccepted},
		{"failed REGISTER is ignored", signed(events, mustJSON(t, kcevent.Event{ID: "f", Time: 1, Type: "REGISTER", RealmID: "bbq", Error: "invalid_registration"}), time.Now()), http.StatusAccepted},
		{"admin event on a group is ignored", signed(admin, mustJSON(t, kcevent.AdminEvent{ID: "g", Time: 1, RealmID: "bbq",
			OperationType: "CREATE", ResourceType: "GROUP", ResourcePath: "groups/g"}), time.Now()), http.StatusAccepted},
		{"bbqUser of another user", signed(events, mustJSON(t, kcevent.Event{ID: "b", Time: 1, Type: "VERIFY_EMAIL", RealmID: "bbq", UserID: "u",
			BBQUser: &kcevent.User{ID: "someone-else"}}), time.Now()), http.StatusBadRequest},
		{"state-only type without bbqUser (old provider) is ignored", signed(events, mustJSON(t, kcevent.Event{ID: "s", Time: 1,
			Type: "IDENTITY_PROVIDER_FIRST_LOGIN", RealmID: "bbq", UserID: "u"}), time.Now()), http.StatusAccepted},
		{"admin password reset is ignored", signed(admin, mustJSON(t, kcevent.AdminEvent{ID: "p", Time: 1, RealmID: "bbq",
			OperationType: "ACTION", ResourceType: "USER", ResourcePath: "users/u/reset-password"}), time.Now()), http.StatusAccepted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := f.srv.Client().Do(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.want {
				body, _ := io.ReadAll(resp.Body)
				t.Fatalf("status = %d, want %d (%s)", resp.StatusCode, tt.want, body)
			}
		})
	}
	if n := len(f.bus.Messages(t, "events.>")); n != 0 {
		t.Fatalf("%d messages reached the bus, want 0", n)
	}
}

func TestBusUnavailableAnswers503WithRetryAfter(t *testing.T) {
	f := newFixture(t)
	f.bus.Server.Shutdown()
	body := mustJSON(t, hooktest.Register("kc-evt-3", "user-3", "kim@example.com", time.Now()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := f.srv.Client().Do(hooktest.Request(t, f.srv.URL+receiver.EventsPath, "kc-evt-3", body, time.Now()).WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "5" {
		t.Fatalf("status %d Retry-After %q, want 503 and 5", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// Signed webhooks whose strings Keycloak would never send, or Postgres could not store, get 400 naming the
// field, and nothing reaches the bus; unknown extra fields are still accepted.
func TestHostileFieldsAreRefusedAndNothingIsPublished(t *testing.T) {
	f := newFixture(t)
	register := func(id string, set map[string]string) []byte {
		e := hooktest.Register(id, "user-"+id, "pat@example.com", time.Now())
		for k, v := range set {
			e.Details[k] = v
		}
		return mustJSON(t, e)
	}
	adminCreate := func(id string, rep map[string]any) []byte {
		return mustJSON(t, kcevent.AdminEvent{ID: id, Time: time.Now().UnixMilli(), RealmID: "bbq", OperationType: "CREATE",
			ResourceType: "USER", ResourcePath: "users/user-" + id, Representation: string(mustJSON(t, rep))})
	}
	tests := []struct {
		name, path string
		body       []byte
		field      string
	}{
		{"NUL in first name", receiver.EventsPath, register("h1", map[string]string{"first_name": "Pat\x00"}), "details.first_name"},
		{"control character in last name", receiver.EventsPath, register("h2", map[string]string{"last_name": "\x1b[2J"}), "details.last_name"},
		{"NUL in username", receiver.EventsPath, register("h3", map[string]string{"username": "pat\x00"}), "details.username"},
		{"NUL in email", receiver.EventsPath, register("h4", map[string]string{"email": "pat\x00@example.com"}), "details.email"},
		{"5,006-character email", receiver.EventsPath, register("h5", map[string]string{"email": strings.Repeat("p", 4994) + "@example.com"}), "details.email"},
		{"email not shaped like an address", receiver.EventsPath, register("h6", map[string]string{"email": "pat@@example.com"}), "details.email"},
		{"256-character first name", receiver.EventsPath, register("h7", map[string]string{"first_name": strings.Repeat("P", 256)}), "details.first_name"},
		{"admin create, NUL in lastName", receiver.AdminEventsPath, adminCreate("h8", map[string]any{"username": "pat", "lastName": "G\x00"}), "representation.lastName"},
		{"admin create, 256-character firstName", receiver.AdminEventsPath, adminCreate("h9", map[string]any{"username": "pat", "firstName": strings.Repeat("P", 256)}), "representation.firstName"},
		{"admin create, email over 254 characters", receiver.AdminEventsPath, adminCreate("h10", map[string]any{"username": "pat", "email": strings.Repeat("p", 243) + "@example.com"}), "representation.email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := f.srv.Client().Do(hooktest.Request(t, f.srv.URL+tt.path, "wh-"+tt.name, tt.body, time.Now()))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got struct{ Detail string }
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(got.Detail, tt.field) {
				t.Fatalf("status %d %q, want 400 naming %s", resp.StatusCode, got.Detail, tt.field)
			}
		})
	}
	if n := len(f.bus.Messages(t, "events.>")); n != 0 {
		t.Fatalf("%d messages reached the bus, want 0", n)
	}
	if got := testutil.ToFloat64(f.metrics.Webhooks.WithLabelValues("events", "invalid")); got != 7 {
		t.Errorf("invalid webhooks counted = %v, want 7", got)
	}

	// Fields we do not know, at the top and in the details, are Keycloak's or a newer provider's: accepted.
	extra := bytes.Replace(register("ok1", map[string]string{"custom": "\x00 not copied"}), []byte(`{`), []byte(`{"newField":{"a":[1,"\u0000"]},`), 1)
	if got := hooktest.Post(t, f.srv.Client(), f.srv.URL+receiver.EventsPath, "wh-ok1", json.RawMessage(extra)); got != http.StatusAccepted {
		t.Fatalf("status = %d with unknown extra fields, want 202", got)
	}
	if n := len(f.bus.Messages(t, "events.>")); n != 1 {
		t.Fatalf("%d messages on the bus, want 1", n)
	}
}

// A signed event of another realm is refused with 403 and counted, and never reaches the bus: only our realm's
// people become our users, whatever a misconfigured Keycloak sends.
func TestEventsOfAnotherRealmAreRefused(t *testing.T) {
	f := newRealmFixture(t, "bbq")
	other := hooktest.Register("kc-other-1", "user-other", "pat@example.com", time.Now())
	other.RealmID, other.RealmName = "other", "other"
	admin := kcevent.AdminEvent{ID: "kc-other-2", Time: time.Now().UnixMilli(), RealmID: "other", RealmName: "other",
		OperationType: "DELETE", ResourceType: "USER", ResourcePath: "users/user-other"}
	for _, c := range []struct {
		path string
		body any
	}{{receiver.EventsPath, other}, {receiver.AdminEventsPath, admin}} {
		resp, err := f.srv.Client().Do(hooktest.Request(t, f.srv.URL+c.path, "wh-"+c.path, mustJSON(t, c.body), time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		var got struct{ Status, Detail string }
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || got.Status != "wrong_realm" || !strings.Contains(got.Detail, `realm "bbq" only`) {
			t.Fatalf("%s: %d %+v, want 403 wrong_realm naming our realm", c.path, resp.StatusCode, got)
		}
	}
	if n := len(f.bus.Messages(t, "events.>")); n != 0 {
		t.Fatalf("%d messages reached the bus, want 0", n)
	}
	if got := hooktest.Post(t, f.srv.Client(), f.srv.URL+receiver.EventsPath, "wh-ours",
		hooktest.Register("kc-ours", "user-ours", "pat@example.com", time.Now())); got != http.StatusAccepted {
		t.Fatalf("our realm's event: status %d, want 202", got)
	}
	for _, endpoint := range []string{"events", "admin-events"} {
		if got := testutil.ToFloat64(f.metrics.Webhooks.WithLabelValues(endpoint, "wrong_realm")); got != 1 {
			t.Errorf("%s refused for the realm = %v, want 1", endpoint, got)
		}
	}
}

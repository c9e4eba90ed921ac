package receiver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
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

func newFixture(t *testing.T) *fixture {
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

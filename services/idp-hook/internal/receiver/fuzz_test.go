package receiver_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/connectedbbq/platform/pkg/events"
	"github.com/connectedbbq/platform/pkg/webhook"
	"github.com/connectedbbq/platform/services/idp-hook/internal/hooktest"
	"github.com/connectedbbq/platform/services/idp-hook/internal/receiver"
)

// recordingPublisher is a stand-in for JetStream in the fuzzer only (a real server per input
// would make it too slow to find anything): it checks each event is valid and always acks.
type recordingPublisher struct{ t *testing.T }

func (p recordingPublisher) Publish(_ context.Context, subject string, ev cloudevents.Event) (*jetstream.PubAck, error) {
	body, err := events.Encode(ev)
	if err != nil {
		p.t.Fatalf("published an unencodable event: %v", err)
	}
	d, err := events.Decode(body)
	if err != nil || d.Kind.Subject != subject {
		p.t.Fatalf("published an event the consumer cannot read on %s: %v", subject, err)
	}
	return &jetstream.PubAck{Stream: "EVENTS"}, nil
}

// FuzzReceiver: any correctly signed body gets 202 or 400, never a 5xx or a panic, and anything
// published decodes.
func FuzzReceiver(f *testing.F) {
	for _, name := range []string{"register.json", "verify_email.json", "admin_user_update.json"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "keycloak", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, name[:5] == "admin")
	}
	f.Add([]byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`), false)
	f.Add([]byte(`{"id":1,"type":["REGISTER"],"details":"x"}`), false)
	f.Fuzz(func(t *testing.T, body []byte, admin bool) {
		mux := http.NewServeMux()
		receiver.New(receiver.Options{
			Verifier: webhook.NewVerifier([]webhook.Secret{hooktest.SecretKey}, 5*time.Minute), Publisher: recordingPublisher{t},
			MaxBodyBytes: 256 << 10, PublishTimeout: time.Second, RetryAfter: time.Second,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: receiver.NewMetrics(prometheus.NewRegistry()),
		}).Mount(mux)
		path := receiver.EventsPath
		if admin {
			path = receiver.AdminEventsPath
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, hooktest.Request(t, "http://idp-hook"+path, "wh-fuzz", body, time.Now()))
		if rec.Code != http.StatusAccepted && rec.Code != http.StatusBadRequest && rec.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d for %q", rec.Code, body)
		}
	})
}

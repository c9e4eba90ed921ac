package kctest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/connectedbbq/platform/pkg/webhook"
)

// Delivery is one webhook request the Receiver accepted as authentic.
type Delivery struct {
	Path     string // /webhooks/keycloak/events or /webhooks/keycloak/admin-events
	Header   http.Header
	Body     []byte
	ID       string // webhook-id
	Attempt  int    // 1 for the first delivery of this id
	Status   int    // what the receiver answered
	Received time.Time
	// From the body: Type for user events; OperationType and ResourceType for admin events.
	Type          string `json:"type"`
	OperationType string `json:"operationType"`
	ResourceType  string `json:"resourceType"`
	UserID        string `json:"userId"`
	ResourcePath  string `json:"resourcePath"`
}

// Responder decides the status (and headers) for a verified delivery; default 202.
type Responder func(d Delivery) (status int, header http.Header)

// Receiver is a real HTTP server standing in for idp-hook's webhook endpoint in Keycloak-side tests. It
// verifies every request with pkg/webhook and fails the test on a bad signature.
type Receiver struct {
	URL     string   // base URL: give it to NewRealm as Options.WebhookURL
	Secrets []string // whsec_ secrets: Options.WebhookSecrets

	t        testing.TB
	verifier *webhook.Verifier
	mu       sync.Mutex
	respond  Responder
	got      []Delivery
	attempts map[string]int
	changed  chan struct{}
}

// NewReceiver starts a receiver with a fresh random secret; it stops when t ends.
func NewReceiver(t testing.TB) *Receiver {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	secret := webhook.FormatSecret(key)
	parsed, err := webhook.ParseSecrets(secret)
	if err != nil {
		t.Fatal(err)
	}
	r := &Receiver{Secrets: []string{secret}, t: t, verifier: webhook.NewVerifier(parsed, 5*time.Minute),
		attempts: map[string]int{}, changed: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// Respond sets how the receiver answers from now on.
func (r *Receiver) Respond(f Responder) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.respond = f
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id, err := r.verifier.Verify(req.Header, body, time.Now())
	if err != nil {
		r.t.Errorf("kctest receiver: %s %s: signature: %v", req.Method, req.URL.Path, err)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	d := Delivery{Path: req.URL.Path, Header: req.Header.Clone(), Body: body, ID: id, Received: time.Now()}
	if err := json.Unmarshal(body, &d); err != nil {
		r.t.Errorf("kctest receiver: body is not JSON: %v", err)
	}
	r.mu.Lock()
	r.attempts[id]++
	d.Attempt = r.attempts[id]
	respond := r.respond
	r.mu.Unlock()
	status, header := http.StatusAccepted, http.Header(nil)
	if respond != nil {
		status, header = respond(d)
	}
	for k, v := range header {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	d.Status = status
	r.mu.Lock()
	r.got = append(r.got, d)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// Deliveries returns everything received so far, in order.
func (r *Receiver) Deliveries() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.got...)
}

// Wait returns the first delivery matching f, failing t after the timeout.
func (r *Receiver) Wait(t testing.TB, timeout time.Duration, f func(Delivery) bool) Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		r.mu.Lock()
		for _, d := range r.got {
			if f(d) {
				r.mu.Unlock()
				return d
			}
		}
		changed := r.changed
		r.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("kctest receiver: no matching delivery within %s; got %d: %s", timeout, len(r.Deliveries()),
				r.summary())
			return Delivery{}
		}
	}
}

// UserEvent matches a user event of the given type (e.g. REGISTER) for a user ("" = any user).
func UserEvent(typ, userID string) func(Delivery) bool {
	return func(d Delivery) bool {
		return d.Path == "/webhooks/keycloak/events" && d.Type == typ && (userID == "" || d.UserID == userID)
	}
}

// AdminUserEvent matches an admin event on a user (operation CREATE, UPDATE or DELETE).
func AdminUserEvent(op, userID string) func(Delivery) bool {
	return func(d Delivery) bool {
		return d.Path == "/webhooks/keycloak/admin-events" && d.ResourceType == "USER" && d.OperationType == op &&
			(userID == "" || d.ResourcePath == "users/"+userID)
	}
}

func (r *Receiver) summary() string {
	var s string
	for _, d := range r.Deliveries() {
		s += d.Path + " " + d.Type + d.ResourceType + "/" + d.OperationType + "; "
	}
	return s
}

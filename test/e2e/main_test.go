// Package e2e runs the pipeline as real processes (idp-hook, user-service) against a real
// JetStream and a real Postgres, and checks what a user of the platform would check: rows in
// Postgres, events on the bus, answers of the API.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/connectedbbq/platform/dev/stack"
	"github.com/connectedbbq/platform/pkg/events"
	"github.com/connectedbbq/platform/pkg/webhook"
	"github.com/connectedbbq/platform/testing/natstest"
	"github.com/connectedbbq/platform/testing/oidctest"
	"github.com/connectedbbq/platform/testing/pgtest"
)

var (
	pg   *pgtest.Server
	bins map[string]string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "e2e-bin-")
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	bins, err = stack.Build(ctx, dir, "idp-hook", "user-service")
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := pgtest.Main(m, &pg)
	os.RemoveAll(dir)
	os.Exit(code)
}

var secretKey = []byte("e2e-webhook-secret-0123456789abcdef")

const adminToken = "e2e-admin-token-0123456789"

// env is one test's platform: its own stream, database, issuer and processes.
type env struct {
	t      *testing.T
	bus    *natstest.Bus
	dbURL  string
	db     *pgxpool.Pool
	issuer *oidctest.Issuer
	cfg    stack.PipelineConfig
	p      *stack.Pipeline
}

func newEnv(t *testing.T, userServiceEnv map[string]string, opts ...func(*stack.PipelineConfig)) *env {
	t.Helper()
	e := &env{t: t, bus: natstest.New(t), dbURL: pg.NewDatabase(t), issuer: oidctest.New(t)}
	db, err := pgxpool.New(context.Background(), e.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	e.db = db
	e.cfg = stack.PipelineConfig{Bins: bins, Dir: t.TempDir(), NATSURL: e.bus.URL, DatabaseURL: e.dbURL,
		OIDCIssuer: e.issuer.URL, WebhookSecrets: webhook.FormatSecret(secretKey), AdminToken: adminToken,
		UserServiceEnv: userServiceEnv}
	for _, o := range opts {
		o(&e.cfg)
	}
	e.start()
	t.Cleanup(func() {
		if err := e.p.Stop(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			for _, f := range []string{"idp-hook.log", "user-service.log"} {
				b, _ := os.ReadFile(filepath.Join(e.cfg.Dir, f))
				t.Logf("--- %s (last 3000 bytes)\n%s", f, lastBytes(b, 3000))
			}
		}
	})
	return e
}

func (e *env) start() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := stack.StartPipeline(ctx, e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.p = p
}

func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// kcEvent is a user event shaped like Keycloak's EventRepresentation.
func kcEvent(id, typ, userID, email string) map[string]any {
	details := map[string]string{"email": email}
	if typ == "REGISTER" {
		details = map[string]string{"auth_method": "openid-connect", "register_method": "form", "username": email,
			"email": email, "first_name": "Pat", "last_name": "Griller"}
	}
	return map[string]any{"id": id, "time": time.Now().UnixMilli(), "type": typ, "realmId": "bbq", "realmName": "bbq",
		"clientId": "dashboard", "userId": userID, "ipAddress": "127.0.0.1", "details": details}
}

// post sends one signed webhook and returns the status.
func (e *env) post(path, webhookID string, v any) int {
	e.t.Helper()
	return e.postWith(path, webhookID, v, nil)
}

// postWith sends one signed webhook with extra headers (e.g. traceparent) and returns the status.
func (e *env) postWith(path, webhookID string, v any, header http.Header) int {
	e.t.Helper()
	body, err := json.Marshal(v)
	if err != nil {
		e.t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, e.p.IdPHookURL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	webhook.SignRequest(req.Header, []webhook.Secret{secretKey}, webhookID, time.Now(), body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (e *env) mustPost(path, webhookID string, v any) {
	e.t.Helper()
	if got := e.post(path, webhookID, v); got != http.StatusAccepted {
		e.t.Fatalf("webhook %s: status %d, want 202", webhookID, got)
	}
}

const eventsPath = "/webhooks/keycloak/events"

// userCreated counts UserCreated events per user on the bus.
func (e *env) userCreated() map[string]int {
	e.t.Helper()
	counts := map[string]int{}
	for _, m := range e.bus.Messages(e.t, events.UserCreated.Subject) {
		d, err := events.Decode(m.Data)
		if err != nil {
			e.t.Fatalf("undecodable UserCreated: %v", err)
		}
		counts[d.Event.Subject()]++
	}
	return counts
}

// eventually polls cond until it holds or the timeout passes.
func (e *env) eventually(timeout time.Duration, what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *env) scalar(sql string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

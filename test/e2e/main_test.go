// Package e2e runs the pipeline as real processes (idp-hook, user-service) against a real
// JetStream and a real Postgres, and checks what a user of the platform would check: rows in
// Postgres, events on the bus, answers of the API.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/connectedbbq/platform/dev/stack"
	"github.com/connectedbbq/platform/pkg/events"
	"github.com/connectedbbq/platform/pkg/webhook"
	"github.com/connectedbbq/platform/test/internal/contract"
	"github.com/connectedbbq/platform/test/internal/pipelinetest"
	"github.com/connectedbbq/platform/testing/embedded"
	"github.com/connectedbbq/platform/testing/natstest"
	"github.com/connectedbbq/platform/testing/oidctest"
	"github.com/connectedbbq/platform/testing/pgtest"
)

var (
	pg   *pgtest.Server
	bins map[string]string
)

func TestMain(m *testing.M) {
	var remove func()
	var err error
	if bins, remove, err = pipelinetest.Build("idp-hook", "user-service"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := pgtest.Main(m, &pg)
	remove()
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
	// NATS with the platform's users and Postgres with its roles: the services run with least privilege.
	e := &env{t: t, bus: natstest.NewSecured(t), dbURL: pg.NewDatabase(t), issuer: oidctest.New(t)}
	db, err := pgxpool.New(context.Background(), e.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	e.db = db
	e.cfg = stack.PipelineConfig{Bins: bins, NATSURL: e.bus.URL, DatabaseURL: e.dbURL,
		OIDCIssuer: e.issuer.URL, WebhookSecrets: webhook.FormatSecret(secretKey), AdminToken: adminToken,
		UserServiceEnv: userServiceEnv,
		IdPHookNATS:    e.bus.Credentials(embedded.UserIdPHook), UserServiceNATS: e.bus.Credentials(embedded.UserUserService),
		ServiceDatabaseURL: pgtest.WithUser(e.dbURL, "user_service", "e2e"), APIDatabaseURL: pgtest.WithUser(e.dbURL, "user_service_api", "e2e")}
	for _, o := range opts {
		o(&e.cfg)
	}
	e.p = pipelinetest.Start(t, &e.cfg)
	t.Cleanup(e.checkContract)
	return e
}

// checkContract validates every message the test put on the bus against proto/asyncapi.yaml, the contract
// consumers outside Go build on (headers, CloudEvent envelope, data against the generated JSON Schemas).
func (e *env) checkContract() {
	if e.t.Failed() {
		return
	}
	v, err := contract.New(contract.ProtoDir())
	if err != nil {
		e.t.Fatal(err)
	}
	for _, m := range e.bus.Messages(e.t, events.StreamSubjects) {
		if _, err := v.Validate(m.Subject, m.Header, m.Data); err != nil {
			e.t.Errorf("event %d breaks the AsyncAPI contract: %v", m.Sequence, err)
		}
	}
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
	status, err := pipelinetest.PostWebhookWith(e.p.IdPHookURL+path, secretKey, webhookID, body, header)
	if err != nil {
		e.t.Fatal(err)
	}
	return status
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
	return pipelinetest.Count(e.t, e.bus, events.UserCreated.Subject)
}

func (e *env) eventually(timeout time.Duration, what string, cond func() bool) {
	e.t.Helper()
	pipelinetest.Eventually(e.t, timeout, what, cond)
}

func (e *env) scalar(sql string, args ...any) int {
	e.t.Helper()
	return pipelinetest.Scalar(e.t, e.db, sql, args...)
}

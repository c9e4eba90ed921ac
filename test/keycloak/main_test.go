// Package keycloak runs the pipeline against a real Keycloak: a person signs up through Keycloak's own
// form, the provider's signed webhooks reach idp-hook, the user service activates the user, writes
// the tenant back, and the API accepts the resulting tokens.
package keycloak

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/connectedbbq/platform/dev/stack"
	"github.com/connectedbbq/platform/pkg/webhook"
	"github.com/connectedbbq/platform/test/internal/pipelinetest"
	"github.com/connectedbbq/platform/testing/kctest"
	"github.com/connectedbbq/platform/testing/natstest"
	"github.com/connectedbbq/platform/testing/pgtest"
)

var (
	pg   *pgtest.Server
	kc   *kctest.Keycloak
	bins map[string]string
)

func TestMain(m *testing.M) {
	var remove func()
	var err error
	if bins, remove, err = pipelinetest.Build("idp-hook", "user-service"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv, stopPG, err := pgtest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pg = srv
	// Untraced: Keycloak's tracing about doubled the admin API's time (1,000 users created in 32 s, not 16 s) and
	// the backfill's page of users timed out; the trace test starts a traced Keycloak of its own.
	code := kctest.Main(m, &kc)
	stopPG()
	remove()
	os.Exit(code)
}

var secretKey = []byte("kce2e-webhook-secret-0123456789abcdef")

// env is one test's platform: its own realm, stream, database and processes.
type env struct {
	t     *testing.T
	realm *kctest.Realm
	bus   *natstest.Bus
	db    *pgxpool.Pool
	cfg   stack.PipelineConfig
	p     *stack.Pipeline
}

type options struct {
	webhook   bool // the realm sends webhooks to idp-hook
	reconcile bool // idp-hook reconciles with the realm's stored events
	hookEnv   map[string]string
	// webhookURL, when set, is where the realm sends its webhooks instead of idp-hook (a test proxy).
	webhookURL string
	serviceEnv map[string]string // extra user-service environment
	realm      kctest.Options    // realm options (the webhook fields are set by newEnv)
	keycloak   *kctest.Keycloak  // the server of the realm; nil: the suite's
}

func newEnv(t *testing.T, o options) *env {
	t.Helper()
	e := &env{t: t, bus: natstest.New(t)}
	dbURL := pg.NewDatabase(t)
	db, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	e.db = db
	hookAddr, err := stack.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	ro := o.realm
	if o.webhook {
		ro.WebhookURL, ro.WebhookSecrets = "http://"+hookAddr, []string{webhook.FormatSecret(secretKey)}
		if o.webhookURL != "" {
			ro.WebhookURL = o.webhookURL
		}
	}
	server := kc
	if o.keycloak != nil {
		server = o.keycloak
	}
	e.realm = kctest.NewRealm(t, server, ro)
	hookEnv := maps.Clone(o.hookEnv)
	if hookEnv == nil {
		hookEnv = map[string]string{}
	}
	hookEnv["KEYCLOAK_REALM"] = e.realm.Name // idp-hook refuses any other realm's webhooks
	if o.reconcile {
		maps.Copy(hookEnv, map[string]string{"KEYCLOAK_URL": server.URL, "KEYCLOAK_REALM": e.realm.Name,
			"KEYCLOAK_CLIENT_SECRET": e.realm.Secrets["idp-hook"], "RECONCILE_INTERVAL": "1s"})
	}
	serviceEnv := map[string]string{"KEYCLOAK_URL": server.URL, "KEYCLOAK_REALM": e.realm.Name,
		"KEYCLOAK_CLIENT_SECRET": e.realm.Secrets["user-service"], "WRITEBACK_INTERVAL": "200ms"}
	maps.Copy(serviceEnv, o.serviceEnv)
	e.cfg = stack.PipelineConfig{Bins: bins, NATSURL: e.bus.URL, DatabaseURL: dbURL,
		OIDCIssuer: e.realm.Issuer, WebhookSecrets: webhook.FormatSecret(secretKey), AdminToken: adminToken,
		HookAddr: hookAddr, IdPHookEnv: hookEnv,
		UserServiceEnv: serviceEnv}
	e.p = pipelinetest.Start(t, &e.cfg)
	return e
}

func (e *env) eventually(timeout time.Duration, what string, cond func() bool) {
	e.t.Helper()
	pipelinetest.Eventually(e.t, timeout, what, cond)
}

func (e *env) scalar(sql string, args ...any) int {
	e.t.Helper()
	return pipelinetest.Scalar(e.t, e.db, sql, args...)
}

// count counts events of a subject per CloudEvent subject (user id).
func (e *env) count(subject string) map[string]int {
	e.t.Helper()
	return pipelinetest.Count(e.t, e.bus, subject)
}

func (e *env) api(method, path, token, body string) (int, map[string]any) {
	e.t.Helper()
	return pipelinetest.Call(e.t, e.p.UserServiceURL, method, path, token, body)
}

// clientToken is a token of a confidential client (client credentials): a real token of the realm,
// for another audience than the user service.
func clientToken(t *testing.T, issuer, clientID, secret string) string {
	t.Helper()
	resp, err := http.PostForm(issuer+"/protocol/openid-connect/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {clientID}, "client_secret": {secret}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("client credentials token for %s: %v (HTTP %d)", clientID, err, resp.StatusCode)
	}
	return tok.AccessToken
}

// Package keycloak runs the pipeline against a real Keycloak: a person signs up through Keycloak's own
// form, the provider's signed webhooks reach idp-hook, the user service activates the user, writes
// the tenant back, and the API accepts the resulting tokens.
package keycloak

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/connectedbbq/platform/dev/stack"
	"github.com/connectedbbq/platform/pkg/events"
	"github.com/connectedbbq/platform/pkg/webhook"
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
	dir, err := os.MkdirTemp("", "kce2e-bin-")
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
	srv, stopPG, err := pgtest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pg = srv
	code := kctest.Main(m, &kc)
	stopPG()
	os.RemoveAll(dir)
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
	e.realm = kctest.NewRealm(t, kc, ro)
	hookEnv := maps.Clone(o.hookEnv)
	if hookEnv == nil {
		hookEnv = map[string]string{}
	}
	hookEnv["KEYCLOAK_REALM"] = e.realm.Name // idp-hook refuses any other realm's webhooks
	if o.reconcile {
		maps.Copy(hookEnv, map[string]string{"KEYCLOAK_URL": kc.URL, "KEYCLOAK_REALM": e.realm.Name,
			"KEYCLOAK_CLIENT_SECRET": e.realm.Secrets["idp-hook"], "RECONCILE_INTERVAL": "1s"})
	}
	serviceEnv := map[string]string{"KEYCLOAK_URL": kc.URL, "KEYCLOAK_REALM": e.realm.Name,
		"KEYCLOAK_CLIENT_SECRET": e.realm.Secrets["user-service"], "WRITEBACK_INTERVAL": "200ms"}
	maps.Copy(serviceEnv, o.serviceEnv)
	e.cfg = stack.PipelineConfig{Bins: bins, Dir: t.TempDir(), NATSURL: e.bus.URL, DatabaseURL: dbURL,
		OIDCIssuer: e.realm.Issuer, WebhookSecrets: webhook.FormatSecret(secretKey), AdminToken: adminToken,
		HookAddr: hookAddr, IdPHookEnv: hookEnv,
		UserServiceEnv: serviceEnv}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if e.p, err = stack.StartPipeline(ctx, e.cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.p.Stop(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			for _, f := range []string{"idp-hook.log", "user-service.log"} {
				b, _ := os.ReadFile(filepath.Join(e.cfg.Dir, f))
				if len(b) > 4000 {
					b = b[len(b)-4000:]
				}
				t.Logf("--- %s\n%s", f, b)
			}
		}
	})
	return e
}

func (e *env) eventually(timeout time.Duration, what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
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

// count counts events of a subject per CloudEvent subject (user id).
func (e *env) count(subject string) map[string]int {
	e.t.Helper()
	out := map[string]int{}
	for _, m := range e.bus.Messages(e.t, subject) {
		d, err := events.Decode(m.Data)
		if err != nil {
			e.t.Fatal(err)
		}
		out[d.Event.Subject()]++
	}
	return out
}

func (e *env) api(method, path, token, body string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.p.UserServiceURL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
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

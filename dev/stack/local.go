package stack

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/connectedbbq/platform/pkg/bus"
	"github.com/connectedbbq/platform/pkg/webhook"
	"github.com/connectedbbq/platform/testing/embedded"
	"github.com/connectedbbq/platform/testing/smtpsink"
)

// LocalConfig is the whole system on one machine.
type LocalConfig struct {
	Dir       string // everything the system keeps: data, logs, binaries, secrets
	Keycloak  bool
	Dashboard bool
	Log       *slog.Logger
	// Ports of the parts people and tools reach.
	DashboardPort, UserServicePort, AdminPort, IdPHookPort, KeycloakPort, KeycloakMgmtPort, NATSPort, PostgresPort, SMTPPort int
	// Operations ports (probes and metrics) of our services.
	DashboardOpsPort, UserServiceOpsPort, IdPHookOpsPort int
	// Telemetry is the OTEL_* variables given to every service (TelemetryFrom); with an OTLP endpoint,
	// Keycloak traces to the same collector (KC_TRACING_*). Empty: no spans leave the processes.
	Telemetry map[string]string
}

// DefaultLocal is what `make run` starts.
func DefaultLocal(dir string, log *slog.Logger) LocalConfig {
	return LocalConfig{Dir: dir, Keycloak: true, Dashboard: true, Log: log, DashboardPort: 3000, UserServicePort: 8080,
		AdminPort: 8081, IdPHookPort: 8090, KeycloakPort: 8180, KeycloakMgmtPort: 9180, NATSPort: 4222, PostgresPort: 15432, SMTPPort: 2525,
		UserServiceOpsPort: 9090, IdPHookOpsPort: 9091, DashboardOpsPort: 9093}
}

// Local is the running system.
type Local struct {
	cfg      LocalConfig
	NATS     *server.Server
	Postgres *embedded.Postgres
	SMTP     *smtpsink.Sink
	Pipeline *Pipeline
	Keycloak *Process
	Dash     *Process
	URLs     map[string]string
}

// secrets are generated once per data directory and kept there (mode 0600), never in the checkout.
type secrets struct {
	Webhook, AdminToken, SessionKey, UserServiceClient, IdPHookClient, TenantControllerClient, KeycloakAdmin string
	NATS                                                                                                     map[string]string // password per NATS user (embedded.BusUsers)
	Postgres                                                                                                 map[string]string // password per login role
}

func loadSecrets(path string) (secrets, error) {
	var s secrets
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &s); err != nil || (s.NATS != nil && s.Postgres != nil) {
			return s, err
		}
	} else {
		s = secrets{Webhook: webhook.FormatSecret(random(32)), AdminToken: b64(random(24)), SessionKey: b64(random(32)),
			UserServiceClient: b64(random(24)), IdPHookClient: b64(random(24)), TenantControllerClient: b64(random(24)), KeycloakAdmin: b64(random(12))}
	}
	// Data directories from before least privilege get the NATS users' and Postgres roles' passwords now.
	s.NATS, s.Postgres = map[string]string{}, map[string]string{}
	for _, u := range []string{embedded.UserIdPHook, embedded.UserUserService, embedded.UserReader, embedded.UserAdmin} {
		s.NATS[u] = b64(random(18))
	}
	for _, r := range []string{serviceRole, apiRole} {
		s.Postgres[r] = b64(random(18))
	}
	b, _ := json.MarshalIndent(s, "", "  ")
	return s, os.WriteFile(path, b, 0o600)
}

// The login roles user-service runs as (user-service migrate makes them, as the superuser).
const (
	serviceRole = "user_service"
	apiRole     = "user_service_api"
)

func random(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// StartLocal starts NATS (in this process), Postgres, an SMTP sink, Keycloak, idp-hook,
// user-service and the dashboard, in dependency order.
func StartLocal(ctx context.Context, c LocalConfig) (*Local, error) {
	// The folder itself must be traversable: Postgres runs as its own user when we are root.
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.Chmod(c.Dir, 0o755); err != nil {
		return nil, err
	}
	for _, d := range []string{"bin", "logs", "nats"} {
		if err := os.MkdirAll(filepath.Join(c.Dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	sec, err := loadSecrets(filepath.Join(c.Dir, "secrets.json"))
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	l := &Local{cfg: c, URLs: map[string]string{}}
	if err := l.startInfrastructure(ctx, sec); err != nil {
		l.Stop()
		return nil, err
	}
	names := []string{"idp-hook", "user-service"}
	if c.Dashboard {
		names = append(names, "dashboard")
	}
	c.Log.Info("building the services", "dir", filepath.Join(c.Dir, "bin"))
	bins, err := Build(ctx, filepath.Join(c.Dir, "bin"), names...)
	if err != nil {
		l.Stop()
		return nil, err
	}
	if err := l.startServices(ctx, bins, sec); err != nil {
		l.Stop()
		return nil, err
	}
	return l, nil
}

func (l *Local) startInfrastructure(ctx context.Context, sec secrets) error {
	c := l.cfg
	ns, err := embedded.StartNATS(embedded.NATSConfig{Dir: filepath.Join(c.Dir, "nats"), Port: c.NATSPort,
		Users: embedded.BusUsers(embedded.DefaultBusNames(), sec.NATS)})
	if err != nil {
		return err
	}
	l.NATS = ns
	l.URLs["nats"] = ns.ClientURL() + " (users idp-hook, user-service, reader, admin: passwords in secrets.json)"
	pg, err := embedded.StartPostgres(ctx, embedded.PostgresConfig{Dir: filepath.Join(c.Dir, "postgres"), Port: c.PostgresPort})
	if err != nil {
		return err
	}
	l.Postgres = pg
	if err := createDatabase(ctx, pg, "users"); err != nil {
		return err
	}
	l.URLs["postgres"] = pg.URL("users")
	mailDir := filepath.Join(c.Dir, "mail")
	if err := os.MkdirAll(mailDir, 0o700); err != nil {
		return fmt.Errorf("mail folder: %w", err)
	}
	sink, err := smtpsink.Start(smtpsink.Config{Addr: fmt.Sprintf("127.0.0.1:%d", c.SMTPPort), Logger: c.Log, OnMessage: func(m smtpsink.Message) {
		c.Log.Info("mail caught by the SMTP sink", "to", m.To, "subject", m.Subject, "links", m.Links())
		saveMail(c.Log, mailDir, m)
	}})
	if err != nil {
		return err
	}
	l.SMTP = sink
	l.URLs["smtp"] = sink.Addr()
	l.URLs["mail dir"] = mailDir
	return nil
}

func (l *Local) startServices(ctx context.Context, bins map[string]string, sec secrets) error {
	c := l.cfg
	public := fmt.Sprintf("http://localhost:%d", c.DashboardPort)
	kcInternal := fmt.Sprintf("http://127.0.0.1:%d/auth", c.KeycloakPort)
	hookAddr := fmt.Sprintf("127.0.0.1:%d", c.IdPHookPort)
	if c.Keycloak {
		if err := l.startKeycloak(ctx, public, "http://"+hookAddr, sec); err != nil {
			return err
		}
	}
	usEnv := map[string]string{"OIDC_DISCOVERY_URL": kcInternal + "/realms/bbq",
		// Invitation mails go to the same SMTP sink as Keycloak's, their links to the dashboard.
		"SMTP_ADDR": l.SMTP.Addr(), "SMTP_FROM": "Connected BBQ <no-reply@connectedbbq.local>", "DASHBOARD_URL": public}
	if c.Keycloak {
		usEnv["KEYCLOAK_URL"], usEnv["KEYCLOAK_CLIENT_SECRET"] = kcInternal, sec.UserServiceClient
	}
	hookEnv := withTelemetry(nil, c.Telemetry)
	usEnv = withTelemetry(usEnv, c.Telemetry)
	p, err := StartPipeline(ctx, PipelineConfig{Bins: bins, Dir: filepath.Join(c.Dir, "logs"), NATSURL: l.NATS.ClientURL(),
		DatabaseURL: l.Postgres.URL("users"), OIDCIssuer: public + "/auth/realms/bbq", WebhookSecrets: sec.Webhook,
		AdminToken: sec.AdminToken, HookAddr: hookAddr, APIAddr: fmt.Sprintf("127.0.0.1:%d", c.UserServicePort),
		AdminAddr: fmt.Sprintf("127.0.0.1:%d", c.AdminPort), HookOpsAddr: fmt.Sprintf("127.0.0.1:%d", c.IdPHookOpsPort),
		UserServiceOpsAddr: fmt.Sprintf("127.0.0.1:%d", c.UserServiceOpsPort), UserServiceEnv: usEnv, IdPHookEnv: hookEnv,
		IdPHookNATS:        bus.Credentials{User: embedded.UserIdPHook, Password: sec.NATS[embedded.UserIdPHook]},
		UserServiceNATS:    bus.Credentials{User: embedded.UserUserService, Password: sec.NATS[embedded.UserUserService]},
		ServiceDatabaseURL: l.Postgres.URLAs("users", serviceRole, sec.Postgres[serviceRole]),
		APIDatabaseURL:     l.Postgres.URLAs("users", apiRole, sec.Postgres[apiRole])})
	if err != nil {
		return err
	}
	l.Pipeline = p
	l.URLs["idp-hook"], l.URLs["user-service"], l.URLs["user-service admin"] = p.IdPHookURL, p.UserServiceURL, p.AdminURL
	l.URLs["idp-hook ops"], l.URLs["user-service ops"] = p.IdPHookOpsURL, p.UserServiceOpsURL
	if !c.Dashboard {
		return nil
	}
	addr, opsAddr := fmt.Sprintf("127.0.0.1:%d", c.DashboardPort), fmt.Sprintf("127.0.0.1:%d", c.DashboardOpsPort)
	l.Dash = &Process{Name: "dashboard", Bin: bins["dashboard"], LogPath: filepath.Join(c.Dir, "logs", "dashboard.log"),
		Ready: "http://" + opsAddr + "/healthz", Env: withTelemetry(map[string]string{"DASHBOARD_ADDR": addr, "OPS_ADDR": opsAddr, "PUBLIC_URL": public,
			"OIDC_ISSUER": public + "/auth/realms/bbq", "KEYCLOAK_URL": kcInternal, "OIDC_CLIENT_ID": "dashboard",
			"USER_SERVICE_URL": p.UserServiceURL, "SESSION_KEY": sec.SessionKey,
			// Local only: the printed admin console URL goes through the dashboard like everything else.
			"DASHBOARD_PROXY_KEYCLOAK_ADMIN": "true"}, c.Telemetry)}
	if err := l.Dash.Start(ctx); err != nil {
		return err
	}
	l.URLs["dashboard"], l.URLs["dashboard ops"] = public, "http://"+opsAddr
	return nil
}

func (l *Local) startKeycloak(ctx context.Context, public, hookURL string, sec secrets) error {
	c := l.cfg
	root, err := Root()
	if err != nil {
		return err
	}
	c.Log.Info("starting Keycloak (the first start downloads and builds it; later ones take ~20 s)")
	l.Keycloak = &Process{Name: "keycloak", Bin: "bash", Args: []string{filepath.Join(root, "deploy/keycloak/scripts/keycloak.sh"), "start"},
		LogPath: filepath.Join(c.Dir, "logs", "keycloak.log"),
		Ready:   fmt.Sprintf("http://127.0.0.1:%d/auth/health/ready", c.KeycloakMgmtPort), StartTimeout: 10 * time.Minute,
		Env: map[string]string{"KC_PORT": fmt.Sprint(c.KeycloakPort), "KC_MANAGEMENT_PORT": fmt.Sprint(c.KeycloakMgmtPort),
			"KC_HOSTNAME": public + "/auth", "KC_INSTANCE_DIR": filepath.Join(c.Dir, "keycloak"),
			"BBQ_CACHE": cacheDir(), "KC_BOOTSTRAP_ADMIN_USERNAME": "admin", "KC_BOOTSTRAP_ADMIN_PASSWORD": sec.KeycloakAdmin,
			"BBQ_DASHBOARD_URL": public, "BBQ_SMTP_HOST": "127.0.0.1", "BBQ_SMTP_PORT": fmt.Sprint(c.SMTPPort),
			"BBQ_WEBHOOK_URL": hookURL, "BBQ_WEBHOOK_SECRETS": sec.Webhook, "BBQ_USER_SERVICE_SECRET": sec.UserServiceClient,
			"BBQ_IDP_HOOK_SECRET": sec.IdPHookClient, "BBQ_TENANT_CONTROLLER_SECRET": sec.TenantControllerClient}}
	// Keycloak's spans are the root of each sign-up's trace; tracing is a build option (a built home of its own).
	maps.Copy(l.Keycloak.Env, keycloakTracing(c.Telemetry))
	if err := l.Keycloak.Start(ctx); err != nil {
		return err
	}
	l.URLs["keycloak"] = fmt.Sprintf("http://127.0.0.1:%d/auth", c.KeycloakPort)
	l.URLs["keycloak admin console"] = public + "/auth/admin (admin / see secrets.json)"
	return nil
}

func cacheDir() string {
	if d := os.Getenv("BBQ_CACHE"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "connected-bbq")
}

// Stop stops everything in reverse order.
func (l *Local) Stop() {
	var errs []error
	if l.Dash != nil {
		errs = append(errs, l.Dash.Stop(15*time.Second))
	}
	if l.Pipeline != nil {
		errs = append(errs, l.Pipeline.Stop())
	}
	if l.Keycloak != nil {
		errs = append(errs, l.Keycloak.Stop(30*time.Second))
	}
	if l.SMTP != nil {
		errs = append(errs, l.SMTP.Close())
	}
	if l.NATS != nil {
		l.NATS.Shutdown()
	}
	if l.Postgres != nil {
		errs = append(errs, l.Postgres.Stop())
	}
	if err := errors.Join(errs...); err != nil {
		l.cfg.Log.Warn("stopping", "err", err)
	}
}

// saveMail keeps a caught mail as a raw .eml file, for people (any mail reader opens it) and tests.
func saveMail(log *slog.Logger, dir string, m smtpsink.Message) {
	name := filepath.Join(dir, fmt.Sprintf("%s.eml", m.Received.UTC().Format("20060102T150405.000000000Z")))
	if err := os.WriteFile(name, m.Raw, 0o600); err != nil {
		log.Warn("could not save a caught mail", "file", name, "err", err)
	}
}

// Env renders the URLs as KEY=value lines for tools and tests (run.env).
func (l *Local) Env() string {
	var b strings.Builder
	for k, v := range l.URLs {
		fmt.Fprintf(&b, "BBQ_%s=%s\n", strings.ToUpper(strings.NewReplacer(" ", "_", "-", "_").Replace(k)), strings.Fields(v)[0])
	}
	return b.String()
}

// createDatabase creates db on pg unless it exists.
func createDatabase(ctx context.Context, pg *embedded.Postgres, db string) error {
	conn, err := pgx.Connect(ctx, pg.URL("postgres"))
	if err != nil {
		return fmt.Errorf("connect to postgres: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, db).Scan(&exists); err != nil {
		return fmt.Errorf("find database %s: %w", db, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", db, err)
	}
	return nil
}

// Package config reads the user service's configuration from the environment.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/connectedbbq/platform/pkg/bus"
	"github.com/connectedbbq/platform/pkg/envconfig"
	"github.com/connectedbbq/platform/pkg/events"
	"github.com/connectedbbq/platform/pkg/keycloak"
	"github.com/connectedbbq/platform/services/user-service/internal/domain"
	"github.com/connectedbbq/platform/services/user-service/internal/mail"
)

// Config of the user service.
type Config struct {
	HTTPAddr    string `env:"HTTP_ADDR" envDefault:":8080"`  // the user API only
	AdminAddr   string `env:"ADMIN_ADDR" envDefault:":8081"` // the admin API only
	OpsAddr     string `env:"OPS_ADDR" envDefault:":9090"`   // /healthz, /readyz, /metrics
	AdminToken  string `env:"ADMIN_TOKEN,unset"`             // empty: no admin API
	DatabaseURL string `env:"DATABASE_URL,required,unset"`
	// The least-privilege set-up (docs/security.md): DATABASE_URL a member of bbq_service, API_DATABASE_URL a
	// member of bbq_api only, MIGRATE_DATABASE_URL the schema's owner (migrations, and the login roles).
	APIDatabaseURL     string        `env:"API_DATABASE_URL,unset"`
	MigrateDatabaseURL string        `env:"MIGRATE_DATABASE_URL,unset"`
	DBMaxConns         int32         `env:"DB_MAX_CONNS" envDefault:"16"`
	MigrateOnStart     bool          `env:"MIGRATE_ON_START" envDefault:"true"`
	NATSURL            string        `env:"NATS_URL,required"`
	ShutdownTimeout    time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s"`
	LogLevel           string        `env:"LOG_LEVEL" envDefault:"info"`
	Bus                bus.Config
	NATS               bus.Credentials // NATS_USER/NATS_PASSWORD or NATS_CREDS, TLS

	OIDCIssuer       string   `env:"OIDC_ISSUER,required"`
	OIDCDiscoveryURL string   `env:"OIDC_DISCOVERY_URL"`
	OIDCAudience     string   `env:"OIDC_AUDIENCE" envDefault:"user-service"`
	OIDCAlgorithms   []string `env:"OIDC_ALGORITHMS" envDefault:"RS256"`

	// Keycloak write-back; disabled when KEYCLOAK_URL is empty.
	KeycloakURL          string        `env:"KEYCLOAK_URL"`
	KeycloakRealm        string        `env:"KEYCLOAK_REALM" envDefault:"bbq"`
	KeycloakClientID     string        `env:"KEYCLOAK_CLIENT_ID" envDefault:"user-service"`
	KeycloakClientSecret string        `env:"KEYCLOAK_CLIENT_SECRET,unset"`
	WritebackInterval    time.Duration `env:"WRITEBACK_INTERVAL" envDefault:"1s"`
	// Users pending this long are read from Keycloak and brought in line (needs KEYCLOAK_URL); 0 turns it off.
	PendingSweepAfter time.Duration `env:"PENDING_SWEEP_AFTER" envDefault:"10m"`
	WritebackBatch    int           `env:"WRITEBACK_BATCH" envDefault:"20"` // jobs claimed per round
	WritebackLease    time.Duration `env:"WRITEBACK_LEASE" envDefault:"2m"` // how long a claim lasts
	// KeycloakOrganizations mirrors tenants and memberships as Keycloak organizations (docs/tenancy.md); the
	// realm must have organizations enabled (the shipped realm does). Off: no organization is written.
	KeycloakOrganizations bool `env:"KEYCLOAK_ORGANIZATIONS" envDefault:"true"`

	// CloudEvent sources the consumer takes (default: idp-hook's for KEYCLOAK_REALM); others are dead-lettered.
	EventSources       []string        `env:"EVENT_SOURCES"`
	ConsumerName       string          `env:"CONSUMER_NAME" envDefault:"user-service"`
	ConsumerWorkers    int             `env:"CONSUMER_WORKERS" envDefault:"4"`
	ConsumerBatch      int             `env:"CONSUMER_BATCH" envDefault:"100"`
	ConsumerMaxDeliver int             `env:"CONSUMER_MAX_DELIVER" envDefault:"10"`
	ConsumerBackOff    []time.Duration `env:"CONSUMER_BACKOFF" envDefault:"1s,5s,30s,2m"`
	ConsumerAckWait    time.Duration   `env:"CONSUMER_ACK_WAIT" envDefault:"30s"`
	OutboxBatch        int             `env:"OUTBOX_BATCH" envDefault:"256"`
	OutboxPoll         time.Duration   `env:"OUTBOX_POLL" envDefault:"1s"`
	// The inbox (processed_events) is pruned to InboxRetention every interval, this many rows per DELETE.
	InboxPruneInterval time.Duration `env:"INBOX_PRUNE_INTERVAL" envDefault:"1h"`
	InboxPruneBatch    int           `env:"INBOX_PRUNE_BATCH" envDefault:"1000"`

	// Invitations. Their mails go through SMTP_ADDR; empty, they stay queued (and the service says so at start).
	SMTPAddr                string        `env:"SMTP_ADDR"`
	SMTPFrom                string        `env:"SMTP_FROM" envDefault:"Connected BBQ <no-reply@connectedbbq.local>"`
	SMTPUsername            string        `env:"SMTP_USERNAME"`
	SMTPPassword            string        `env:"SMTP_PASSWORD,unset"`
	DashboardURL            string        `env:"DASHBOARD_URL"` // the invitation links point to it; required with SMTP_ADDR
	InvitationTTL           time.Duration `env:"INVITATION_TTL" envDefault:"168h"`
	InvitationsPerHour      int           `env:"INVITATIONS_PER_HOUR" envDefault:"20"` // mails (invites and resends) per tenant
	InvitationSweepInterval time.Duration `env:"INVITATION_SWEEP_INTERVAL" envDefault:"1m"`
}

// InboxRetention is how long an inbox entry is needed: as long as its event can come again, from the bus
// (BUS_MAX_AGE) or replayed from the dead letters (BUS_DEADLETTER_MAX_AGE); 0 (keep) if either keeps forever.
func (c Config) InboxRetention() time.Duration {
	if c.Bus.MaxAge == 0 || c.Bus.DeadLetterMaxAge == 0 {
		return 0
	}
	return max(c.Bus.MaxAge, c.Bus.DeadLetterMaxAge)
}

// Sources are the CloudEvent sources the consumer takes: EVENT_SOURCES, else our idp-hook's for KEYCLOAK_REALM.
func (c Config) Sources() []string {
	if len(c.EventSources) > 0 {
		return c.EventSources
	}
	return []string{events.IdPSource(c.KeycloakRealm)}
}

// Migrate is all that `user-service migrate` needs (a Kubernetes Job or init container runs it before the
// service, with no NATS or OIDC settings at hand).
type Migrate struct {
	DatabaseURL        string `env:"DATABASE_URL,required,unset"`
	APIDatabaseURL     string `env:"API_DATABASE_URL,unset"`
	MigrateDatabaseURL string `env:"MIGRATE_DATABASE_URL,unset"`
	LogLevel           string `env:"LOG_LEVEL" envDefault:"info"`
}

// LoadMigrate reads the environment of the migrate command.
func LoadMigrate(environ map[string]string) (Migrate, error) {
	var m Migrate
	if err := envconfig.Load(&m, environ); err != nil {
		return Migrate{}, err
	}
	if _, err := url.Parse(m.DatabaseURL); err != nil {
		return Migrate{}, errors.New("DATABASE_URL is not a URL")
	}
	return m, nil
}

// Load reads and validates the environment.
func Load(environ map[string]string) (Config, error) {
	var c Config
	if err := envconfig.Load(&c, environ); err != nil {
		return Config{}, err
	}
	return c, c.Validate()
}

// Validate says everything that is wrong at once.
func (c Config) Validate() error {
	var errs []error
	if _, err := url.Parse(c.DatabaseURL); err != nil {
		errs = append(errs, errors.New("DATABASE_URL is not a URL"))
	}
	if c.AdminToken != "" && len(c.AdminToken) < 16 {
		errs = append(errs, errors.New("ADMIN_TOKEN must be at least 16 characters (leave it empty to turn the admin API off)"))
	}
	if u, err := url.Parse(c.OIDCIssuer); err != nil || u.Scheme == "" || u.Host == "" {
		errs = append(errs, fmt.Errorf("OIDC_ISSUER %q is not an absolute URL", c.OIDCIssuer))
	}
	if c.OIDCAudience == "" {
		errs = append(errs, errors.New("OIDC_AUDIENCE must not be empty"))
	}
	if len(c.OIDCAlgorithms) == 0 || slices.ContainsFunc(c.OIDCAlgorithms, func(a string) bool { return a == "none" || a == "" || a[0] == 'H' }) {
		errs = append(errs, fmt.Errorf("OIDC_ALGORITHMS must list asymmetric algorithms (RS256, ES256...), got %v", c.OIDCAlgorithms))
	}
	if c.KeycloakURL != "" {
		if err := c.Keycloak().Validate(); err != nil {
			errs = append(errs, fmt.Errorf("KEYCLOAK_*: %w", err))
		}
	}
	if c.ConsumerWorkers < 1 || c.ConsumerBatch < 1 || c.ConsumerMaxDeliver < 1 || len(c.ConsumerBackOff) == 0 || c.ConsumerAckWait < time.Second {
		errs = append(errs, errors.New("CONSUMER_WORKERS, CONSUMER_BATCH, CONSUMER_MAX_DELIVER must be positive, CONSUMER_BACKOFF non-empty, CONSUMER_ACK_WAIT at least 1s"))
	}
	if c.OutboxBatch < 1 || c.OutboxPoll <= 0 || c.WritebackInterval <= 0 || c.WritebackBatch < 1 {
		errs = append(errs, errors.New("OUTBOX_BATCH, OUTBOX_POLL, WRITEBACK_INTERVAL and WRITEBACK_BATCH must be positive"))
	}
	if c.WritebackLease < 10*time.Second {
		errs = append(errs, errors.New("WRITEBACK_LEASE must be at least 10s (a round stops at three quarters of it)"))
	}
	if c.PendingSweepAfter < 0 || (c.PendingSweepAfter > 0 && c.PendingSweepAfter < time.Second) {
		errs = append(errs, fmt.Errorf("PENDING_SWEEP_AFTER must be at least 1s, or 0 to turn the sweep off, got %s", c.PendingSweepAfter))
	}
	if c.InboxPruneInterval < time.Second || c.InboxPruneBatch < 1 {
		errs = append(errs, errors.New("INBOX_PRUNE_INTERVAL must be at least 1s and INBOX_PRUNE_BATCH positive"))
	}
	if c.DBMaxConns < 2 {
		errs = append(errs, errors.New("DB_MAX_CONNS must be at least 2"))
	}
	errs = append(errs, c.validateInvitations()...)
	if err := c.Bus.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.NATS.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Keycloak is the admin client configuration for the write-back.
func (c Config) Keycloak() keycloak.Config {
	return keycloak.Config{BaseURL: c.KeycloakURL, Realm: c.KeycloakRealm, ClientID: c.KeycloakClientID, ClientSecret: c.KeycloakClientSecret}
}

func (c Config) validateInvitations() []error {
	var errs []error
	if c.SMTPAddr != "" {
		if err := c.Mail().Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.InvitationTTL < time.Minute {
		errs = append(errs, fmt.Errorf("INVITATION_TTL must be at least 1m, got %s", c.InvitationTTL))
	}
	if c.InvitationsPerHour < 1 {
		errs = append(errs, fmt.Errorf("INVITATIONS_PER_HOUR must be at least 1, got %d", c.InvitationsPerHour))
	}
	if c.InvitationSweepInterval < time.Second {
		errs = append(errs, fmt.Errorf("INVITATION_SWEEP_INTERVAL must be at least 1s, got %s", c.InvitationSweepInterval))
	}
	return errs
}

// Mail is the invitation mail sender's configuration.
func (c Config) Mail() mail.Config {
	return mail.Config{Addr: c.SMTPAddr, From: c.SMTPFrom, DashboardURL: c.DashboardURL, Username: c.SMTPUsername, Password: c.SMTPPassword}
}

// InvitationLimits are the invitations' TTL and hourly limit.
func (c Config) InvitationLimits() domain.InvitationLimits {
	return domain.InvitationLimits{TTL: c.InvitationTTL, PerHour: c.InvitationsPerHour}
}

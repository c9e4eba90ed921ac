// Package config reads idp-hook's configuration from the environment.
package config

import (
	"errors"
	"fmt"
	"time"

	"github.com/connectedbbq/platform/pkg/bus"
	"github.com/connectedbbq/platform/pkg/envconfig"
	"github.com/connectedbbq/platform/pkg/keycloak"
	"github.com/connectedbbq/platform/pkg/webhook"
)

// Config of idp-hook.
type Config struct {
	HTTPAddr        string        `env:"HTTP_ADDR" envDefault:":8080"` // the webhooks only
	OpsAddr         string        `env:"OPS_ADDR" envDefault:":9091"`  // /healthz, /readyz, /metrics
	NATSURL         string        `env:"NATS_URL,required"`
	WebhookSecrets  string        `env:"WEBHOOK_SECRETS,required,unset"` // unset: never left in the environment
	Tolerance       time.Duration `env:"WEBHOOK_TOLERANCE" envDefault:"5m"`
	MaxBodyBytes    int64         `env:"WEBHOOK_MAX_BODY_BYTES" envDefault:"262144"`
	PublishTimeout  time.Duration `env:"PUBLISH_TIMEOUT" envDefault:"5s"`
	RetryAfter      time.Duration `env:"RETRY_AFTER" envDefault:"5s"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s"`
	LogLevel        string        `env:"LOG_LEVEL" envDefault:"info"`
	Bus             bus.Config
	NATS            bus.Credentials // NATS_USER/NATS_PASSWORD or NATS_CREDS, TLS

	// Reconciliation and backfill read Keycloak's admin API; reconciliation is off when KEYCLOAK_URL is empty.
	KeycloakURL          string        `env:"KEYCLOAK_URL"`
	KeycloakRealm        string        `env:"KEYCLOAK_REALM" envDefault:"bbq"`
	KeycloakClientID     string        `env:"KEYCLOAK_CLIENT_ID" envDefault:"idp-hook"`
	KeycloakClientSecret string        `env:"KEYCLOAK_CLIENT_SECRET,unset"`
	ReconcileInterval    time.Duration `env:"RECONCILE_INTERVAL" envDefault:"30s"`
	ReconcileOverlap     time.Duration `env:"RECONCILE_OVERLAP" envDefault:"2m"`
	// Stored events younger than this wait for a later pass, so the webhook's copy (with the state) wins.
	ReconcileSettle  time.Duration `env:"RECONCILE_SETTLE" envDefault:"10s"`
	CheckpointBucket string        `env:"RECONCILE_BUCKET" envDefault:"idp-hook"`
	// One replica reconciles at a time: it holds a lease in this KV bucket, renewed every TTL/3.
	LeaseBucket string        `env:"RECONCILE_LEASE_BUCKET" envDefault:"idp-hook-leases"`
	LeaseTTL    time.Duration `env:"RECONCILE_LEASE_TTL" envDefault:"15s"`

	Secrets []webhook.Secret `env:"-"`
}

// Load reads and validates the environment.
func Load(environ map[string]string) (Config, error) {
	var c Config
	if err := envconfig.Load(&c, environ); err != nil {
		return Config{}, err
	}
	return c, c.validate()
}

func (c *Config) validate() error {
	var errs []error
	secrets, err := webhook.ParseSecrets(c.WebhookSecrets)
	if err != nil {
		errs = append(errs, fmt.Errorf("WEBHOOK_SECRETS: %w", err))
	}
	c.Secrets = secrets
	if c.Tolerance < 30*time.Second || c.Tolerance > 15*time.Minute {
		errs = append(errs, fmt.Errorf("WEBHOOK_TOLERANCE must be between 30s and 15m, got %s", c.Tolerance))
	}
	if c.Bus.DuplicateWindow < c.Tolerance {
		errs = append(errs, fmt.Errorf("BUS_DUPLICATE_WINDOW (%s) must cover WEBHOOK_TOLERANCE (%s) so a replayed webhook is dropped", c.Bus.DuplicateWindow, c.Tolerance))
	}
	if c.MaxBodyBytes < 1024 {
		errs = append(errs, fmt.Errorf("WEBHOOK_MAX_BODY_BYTES must be at least 1024, got %d", c.MaxBodyBytes))
	}
	if c.PublishTimeout <= 0 || c.RetryAfter < time.Second {
		errs = append(errs, errors.New("PUBLISH_TIMEOUT must be positive and RETRY_AFTER at least 1s"))
	}
	if c.KeycloakURL != "" {
		if err := c.Keycloak().Validate(); err != nil {
			errs = append(errs, fmt.Errorf("KEYCLOAK_*: %w", err))
		}
		if c.ReconcileInterval < time.Second || c.ReconcileOverlap < 0 || c.ReconcileOverlap+c.ReconcileInterval >= c.Bus.DuplicateWindow {
			errs = append(errs, fmt.Errorf("RECONCILE_INTERVAL (%s) must be at least 1s and, with RECONCILE_OVERLAP (%s), stay within BUS_DUPLICATE_WINDOW (%s)",
				c.ReconcileInterval, c.ReconcileOverlap, c.Bus.DuplicateWindow))
		}
		if c.ReconcileSettle < 0 || c.ReconcileSettle >= c.ReconcileOverlap && c.ReconcileOverlap > 0 {
			errs = append(errs, fmt.Errorf("RECONCILE_SETTLE (%s) must be at least 0 and shorter than RECONCILE_OVERLAP (%s)",
				c.ReconcileSettle, c.ReconcileOverlap))
		}
	}
	if err := c.Bus.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.NATS.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Keycloak is the admin client configuration of reconciliation and backfill.
func (c Config) Keycloak() keycloak.Config {
	return keycloak.Config{BaseURL: c.KeycloakURL, Realm: c.KeycloakRealm, ClientID: c.KeycloakClientID, ClientSecret: c.KeycloakClientSecret}
}

// Package config reads the dashboard server's settings from the environment.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/connectedbbq/platform/pkg/envconfig"
)

// Config is everything the dashboard server needs; the env names are the contract with make run and the chart.
type Config struct {
	Addr           string        `env:"DASHBOARD_ADDR" envDefault:":3000"` // the public site: app, /auth, /api
	OpsAddr        string        `env:"OPS_ADDR" envDefault:":9093"`       // /healthz, /readyz, /metrics only
	PublicURL      string        `env:"PUBLIC_URL" envDefault:"http://localhost:3000"`
	OIDCIssuer     string        `env:"OIDC_ISSUER" envDefault:"http://localhost:3000/auth/realms/bbq"`
	KeycloakURL    string        `env:"KEYCLOAK_URL" envDefault:"http://127.0.0.1:8180/auth"`
	ClientID       string        `env:"OIDC_CLIENT_ID" envDefault:"dashboard"`
	Scopes         []string      `env:"OIDC_SCOPES" envDefault:"openid,profile,email" envSeparator:","`
	UserServiceURL string        `env:"USER_SERVICE_URL" envDefault:"http://127.0.0.1:8080"`
	SessionKey     string        `env:"SESSION_KEY"`
	SessionTTL     time.Duration `env:"SESSION_TTL" envDefault:"12h"`
	// CookieSecure is derived from PUBLIC_URL's scheme unless set explicitly.
	CookieSecure    *bool         `env:"COOKIE_SECURE"`
	ProxyAdmin      bool          `env:"DASHBOARD_PROXY_KEYCLOAK_ADMIN" envDefault:"false"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"15s"`
	LogLevel        string        `env:"LOG_LEVEL" envDefault:"info"`
}

// Load parses the environment into a Config and validates it.
func Load(environ map[string]string) (Config, error) {
	var cfg Config
	if err := envconfig.Load(&cfg, environ); err != nil {
		return Config{}, err
	}
	return cfg, cfg.Validate()
}

// Validate reports every invalid setting at once, with its env name.
func (c Config) Validate() error {
	var errs []error
	for name, v := range map[string]string{
		"PUBLIC_URL": c.PublicURL, "OIDC_ISSUER": c.OIDCIssuer,
		"KEYCLOAK_URL": c.KeycloakURL, "USER_SERVICE_URL": c.UserServiceURL,
	} {
		if err := absoluteURL(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	if c.ClientID == "" {
		errs = append(errs, errors.New("OIDC_CLIENT_ID: must not be empty"))
	}
	if !strings.Contains(c.OIDCIssuer, "/realms/") {
		errs = append(errs, fmt.Errorf("OIDC_ISSUER: %q is not a Keycloak realm issuer (…/realms/<realm>)", c.OIDCIssuer))
	}
	if c.SessionKey != "" {
		if _, err := c.SessionKeyBytes(); err != nil {
			errs = append(errs, fmt.Errorf("SESSION_KEY: %w", err))
		}
	}
	if c.SessionTTL < time.Minute {
		errs = append(errs, errors.New("SESSION_TTL: must be at least 1m"))
	}
	return errors.Join(errs...)
}

// SessionKeyBytes decodes SESSION_KEY (standard or URL base64) and requires at least 32 bytes.
func (c Config) SessionKeyBytes() ([]byte, error) {
	s := strings.TrimSpace(c.SessionKey)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) < 32 {
				return nil, fmt.Errorf("decodes to %d bytes, need at least 32", len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("not base64 (generate one with: openssl rand -base64 32)")
}

// Secure tells whether cookies get the Secure attribute: explicit COOKIE_SECURE, else PUBLIC_URL is https.
func (c Config) Secure() bool {
	if c.CookieSecure != nil {
		return *c.CookieSecure
	}
	return strings.HasPrefix(strings.ToLower(c.PublicURL), "https://")
}

// KeycloakPublicBase is the browser-facing Keycloak base (the issuer up to /realms/), e.g. http://localhost:3000/auth.
func (c Config) KeycloakPublicBase() string {
	i := strings.Index(c.OIDCIssuer, "/realms/")
	if i < 0 {
		return c.OIDCIssuer
	}
	return c.OIDCIssuer[:i]
}

// InternalIssuer is the issuer's address as reachable from the server (KEYCLOAK_URL + /realms/<realm>).
func (c Config) InternalIssuer() string {
	i := strings.Index(c.OIDCIssuer, "/realms/")
	return strings.TrimRight(c.KeycloakURL, "/") + c.OIDCIssuer[i:]
}

func absoluteURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return nil
}

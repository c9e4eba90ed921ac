package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/connectedbbq/platform/services/user-service/internal/config"
)

func TestLoad(t *testing.T) {
	valid := map[string]string{"DATABASE_URL": "postgres://u:hunter2@db/users", "NATS_URL": "nats://nats:4222",
		"OIDC_ISSUER": "https://example.com/auth/realms/bbq", "ADMIN_TOKEN": "0123456789abcdef0123"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range valid {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "<unset>" {
				delete(m, kv[i])
				continue
			}
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name, wantErr string
		env           map[string]string
	}{
		{"defaults", "", valid},
		{"admin API off without a token", "", with("ADMIN_TOKEN", "<unset>")},
		{"no DATABASE_URL", "DATABASE_URL", with("DATABASE_URL", "<unset>")},
		{"no NATS_URL", "NATS_URL", with("NATS_URL", "<unset>")},
		{"no issuer", "OIDC_ISSUER", with("OIDC_ISSUER", "<unset>")},
		{"relative issuer", "OIDC_ISSUER", with("OIDC_ISSUER", "/realms/bbq")},
		{"alg none", "OIDC_ALGORITHMS", with("OIDC_ALGORITHMS", "RS256,none")},
		{"symmetric algorithm", "OIDC_ALGORITHMS", with("OIDC_ALGORITHMS", "HS256")},
		{"short admin token", "ADMIN_TOKEN", with("ADMIN_TOKEN", "short")},
		{"mail", "", with("SMTP_ADDR", "mail:25", "DASHBOARD_URL", "https://bbq.example")},
		{"mail without DASHBOARD_URL", "DASHBOARD_URL", with("SMTP_ADDR", "mail:25")},
		{"SMTP_ADDR without port", "SMTP_ADDR", with("SMTP_ADDR", "mail", "DASHBOARD_URL", "https://bbq.example")},
		{"bad SMTP_FROM", "SMTP_FROM", with("SMTP_ADDR", "mail:25", "DASHBOARD_URL", "https://bbq.example", "SMTP_FROM", "not an address")},
		{"short INVITATION_TTL", "INVITATION_TTL", with("INVITATION_TTL", "30s")},
		{"no invitations per hour", "INVITATIONS_PER_HOUR", with("INVITATIONS_PER_HOUR", "0")},
		{"no workers", "CONSUMER_WORKERS", with("CONSUMER_WORKERS", "0")},
		{"bad back-off", "CONSUMER_BACKOFF", with("CONSUMER_BACKOFF", "soon")},
		{"keycloak without secret", "ClientSecret", with("KEYCLOAK_URL", "http://kc/auth")},
		{"tiny pool", "DB_MAX_CONNS", with("DB_MAX_CONNS", "1")},
		{"sweep off", "", with("PENDING_SWEEP_AFTER", "0")},
		{"sweep not a duration", "PENDING_SWEEP_AFTER", with("PENDING_SWEEP_AFTER", "ten minutes")},
		{"sweep too often", "PENDING_SWEEP_AFTER", with("PENDING_SWEEP_AFTER", "10ms")},
		{"sweep negative", "PENDING_SWEEP_AFTER", with("PENDING_SWEEP_AFTER", "-1m")},
		{"bad bus limit", "BUS_MAX_BYTES", with("BUS_MAX_BYTES", "0")},
		{"inbox pruned too often", "INBOX_PRUNE_INTERVAL", with("INBOX_PRUNE_INTERVAL", "10ms")},
		{"inbox batch of nothing", "INBOX_PRUNE_BATCH", with("INBOX_PRUNE_BATCH", "0")},
		{"dead letters kept forever", "", with("BUS_DEADLETTER_MAX_AGE", "0s")},
		{"dead letters gone before retries", "BUS_DEADLETTER_MAX_AGE", with("BUS_DEADLETTER_MAX_AGE", "1m")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(tt.env)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Load error = %v, want one mentioning %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatal("the error reveals the database password")
			}
		})
	}
}

func TestLoadMigrateNeedsOnlyTheDatabase(t *testing.T) {
	tests := []struct {
		name, wantErr string
		env           map[string]string
	}{
		{"database only", "", map[string]string{"DATABASE_URL": "postgres://u:hunter2@db/users"}},
		{"no DATABASE_URL", "DATABASE_URL", map[string]string{"NATS_URL": "nats://nats:4222"}},
		{"with a log level", "", map[string]string{"DATABASE_URL": "postgres://db/users", "LOG_LEVEL": "debug"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.LoadMigrate(tt.env)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("LoadMigrate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("LoadMigrate error = %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

// The inbox must outlive every way its event can come again: the bus and the dead letters.
func TestInboxRetention(t *testing.T) {
	for _, tt := range []struct {
		bus, dead, want time.Duration
	}{{720 * time.Hour, 336 * time.Hour, 720 * time.Hour}, {24 * time.Hour, 336 * time.Hour, 336 * time.Hour},
		{0, 336 * time.Hour, 0}, {720 * time.Hour, 0, 0}} {
		var c config.Config
		c.Bus.MaxAge, c.Bus.DeadLetterMaxAge = tt.bus, tt.dead
		if got := c.InboxRetention(); got != tt.want {
			t.Errorf("bus %s, dead letters %s: InboxRetention = %s, want %s", tt.bus, tt.dead, got, tt.want)
		}
	}
}

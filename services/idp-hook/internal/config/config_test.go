package config_test

import (
	"strings"
	"testing"

	"github.com/connectedbbq/platform/services/idp-hook/internal/config"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func TestLoad(t *testing.T) {
	valid := map[string]string{"NATS_URL": "nats://127.0.0.1:4222", "WEBHOOK_SECRETS": secret}
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
		name    string
		env     map[string]string
		wantErr string // substring of the error; empty for success
	}{
		{"defaults", valid, ""},
		{"two secrets for rotation", with("WEBHOOK_SECRETS", secret+","+secret), ""},
		{"no NATS_URL", with("NATS_URL", "<unset>"), "NATS_URL"},
		{"NATS user and password", with("NATS_USER", "idp-hook", "NATS_PASSWORD", "pw"), ""},
		{"NATS user without password", with("NATS_USER", "idp-hook"), "NATS_PASSWORD is required"},
		{"NATS password and creds file", with("NATS_USER", "idp-hook", "NATS_PASSWORD", "pw", "NATS_CREDS", "/x.creds"), "not both"},
		{"NATS client cert without key", with("NATS_TLS_CERT", "/tls.crt"), "NATS_TLS_KEY"},
		{"no secret", with("WEBHOOK_SECRETS", "<unset>"), "WEBHOOK_SECRETS"},
		{"secret without prefix", with("WEBHOOK_SECRETS", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), "whsec_"},
		{"tolerance too long", with("WEBHOOK_TOLERANCE", "1h"), "WEBHOOK_TOLERANCE"},
		{"tolerance not a duration", with("WEBHOOK_TOLERANCE", "five"), "WEBHOOK_TOLERANCE"},
		{"duplicate window shorter than tolerance", with("BUS_DUPLICATE_WINDOW", "3m"), "BUS_DUPLICATE_WINDOW"},
		{"duplicate window under 2m", with("BUS_DUPLICATE_WINDOW", "1m", "WEBHOOK_TOLERANCE", "30s"), "at least 2m"},
		{"tiny body limit", with("WEBHOOK_MAX_BODY_BYTES", "10"), "WEBHOOK_MAX_BODY_BYTES"},
		{"replicas out of range", with("BUS_REPLICAS", "7"), "BUS_REPLICAS"},
		{"keycloak without secret", with("KEYCLOAK_URL", "http://kc:8080/auth"), "ClientSecret"},
		{"keycloak URL not a URL", with("KEYCLOAK_URL", "kc", "KEYCLOAK_CLIENT_SECRET", "s"), "BaseURL"},
		{"reconcile overlap beyond the duplicate window", with("KEYCLOAK_URL", "http://kc/auth", "KEYCLOAK_CLIENT_SECRET", "s", "RECONCILE_OVERLAP", "20m"), "RECONCILE_INTERVAL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Load(tt.env)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if len(c.Secrets) == 0 {
					t.Fatal("no secrets parsed")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Load error = %v, want one mentioning %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") {
				t.Fatal("the error reveals a secret")
			}
		})
	}
}

package config

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	valid := func() Config {
		return Config{
			PublicURL: "http://localhost:3000", OIDCIssuer: "http://localhost:3000/auth/realms/bbq",
			KeycloakURL: "http://127.0.0.1:8180/auth", ClientID: "dashboard", UserServiceURL: "http://127.0.0.1:8080",
			SessionTTL: 60 * 60 * 1e9,
		}
	}
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"defaults are valid", func(*Config) {}, ""},
		{"relative public url", func(c *Config) { c.PublicURL = "/x" }, "PUBLIC_URL"},
		{"issuer without realm", func(c *Config) { c.OIDCIssuer = "http://kc/auth" }, "OIDC_ISSUER"},
		{"short session key", func(c *Config) { c.SessionKey = "c2hvcnQ=" }, "SESSION_KEY: decodes to 5 bytes"},
		{"non base64 key", func(c *Config) { c.SessionKey = "!!!" }, "SESSION_KEY: not base64"},
		{"empty client", func(c *Config) { c.ClientID = "" }, "OIDC_CLIENT_ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.mutate(&c)
			err := c.Validate()
			if tt.wantErr == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestDerivedURLs(t *testing.T) {
	c := Config{PublicURL: "https://bbq.example", OIDCIssuer: "https://bbq.example/auth/realms/bbq", KeycloakURL: "http://keycloak:8080/auth/"}
	if got := c.KeycloakPublicBase(); got != "https://bbq.example/auth" {
		t.Errorf("public base %q", got)
	}
	if got := c.InternalIssuer(); got != "http://keycloak:8080/auth/realms/bbq" {
		t.Errorf("internal issuer %q", got)
	}
	if !c.Secure() {
		t.Error("https public url must give secure cookies")
	}
}

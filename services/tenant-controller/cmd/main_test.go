package main

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	valid := config{UserServiceAdminURL: "http://us:8081", AdminToken: "t", KeycloakURL: "http://kc:8080/auth",
		KeycloakRealm: "bbq", KeycloakClientID: "tenant-controller", KeycloakClientSecret: "s", HTTPTimeout: time.Second}
	tests := []struct {
		name   string
		change func(*config)
		want   []string // substrings of the error; none: valid
	}{
		{"valid", func(*config) {}, nil},
		{"missing admin url and token", func(c *config) { c.UserServiceAdminURL, c.AdminToken = "", "" },
			[]string{"USER_SERVICE_ADMIN_URL", "ADMIN_TOKEN"}},
		{"missing keycloak secret", func(c *config) { c.KeycloakClientSecret = "" }, []string{"KEYCLOAK_CLIENT_SECRET"}},
		{"zero timeout", func(c *config) { c.HTTPTimeout = 0 }, []string{"HTTP_TIMEOUT"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := valid
			tc.change(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
		})
	}
}

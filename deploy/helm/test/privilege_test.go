package test

import (
	"strings"
	"testing"
)

// envNames are the variables a container is given.
func envNames(t *testing.T, c map[string]any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range nested[[]any](t, c, "env") {
		m := e.(map[string]any)
		v, _ := m["value"].(string)
		out[m["name"].(string)] = v
	}
	return out
}

// Least privilege by default: each service has its own NATS user; user-service runs and serves as its two login
// roles, and only its migrate init container holds the database owner's password.
func TestServicesGetLeastPrivilegeCredentials(t *testing.T) {
	objs := rendered(t)
	for svc, user := range map[string]string{"idp-hook": "idp-hook", "user-service": "user-service"} {
		spec := get(t, objs, "Deployment/bbq-connected-bbq-"+svc)
		env := envNames(t, nested[[]any](t, spec, "spec", "template", "spec", "containers")[0].(map[string]any))
		if env["NATS_USER"] != user || !strings.HasPrefix(env["NATS_URL"], "nats://") {
			t.Errorf("%s: NATS_USER %q NATS_URL %q", svc, env["NATS_USER"], env["NATS_URL"])
		}
		if _, ok := env["NATS_PASSWORD"]; !ok {
			t.Errorf("%s has no NATS_PASSWORD", svc)
		}
	}
	spec := nested[map[string]any](t, get(t, objs, "Deployment/bbq-connected-bbq-user-service"), "spec", "template", "spec")
	main := envNames(t, nested[[]any](t, spec, "containers")[0].(map[string]any))
	migrate := envNames(t, nested[[]any](t, spec, "initContainers")[0].(map[string]any))
	if !strings.HasPrefix(main["DATABASE_URL"], "postgres://user_service:") || !strings.HasPrefix(main["API_DATABASE_URL"], "postgres://user_service_api:") {
		t.Errorf("user-service DATABASE_URL %q API_DATABASE_URL %q, want the login roles", main["DATABASE_URL"], main["API_DATABASE_URL"])
	}
	for _, owner := range []string{"MIGRATE_DATABASE_URL", "DB_PASSWORD"} {
		if _, ok := main[owner]; ok {
			t.Errorf("the service container has the owner's %s", owner)
		}
		if _, ok := migrate[owner]; !ok {
			t.Errorf("the migrate init container lacks %s", owner)
		}
	}
	for _, key := range []string{"Secret/bbq-connected-bbq-nats-users", "Secret/bbq-connected-bbq-user-service-db"} {
		get(t, objs, key)
	}
}

// nats.tls: NATS serves clients over TLS and the services verify it with the Secret's CA.
func TestNATSOverTLS(t *testing.T) {
	objs := rendered(t, "--set", "nats.tls.enabled=true", "--set", "nats.tls.secretName=nats-cert")
	conf := nested[string](t, get(t, objs, "ConfigMap/bbq-connected-bbq-nats"), "data", "nats.conf")
	if !strings.Contains(conf, "cert_file: /etc/nats-tls/tls.crt") {
		t.Errorf("no tls block in nats.conf:\n%s", conf)
	}
	for _, svc := range []string{"idp-hook", "user-service"} {
		c := nested[[]any](t, get(t, objs, "Deployment/bbq-connected-bbq-"+svc), "spec", "template", "spec", "containers")[0].(map[string]any)
		env := envNames(t, c)
		if !strings.HasPrefix(env["NATS_URL"], "tls://") || env["NATS_CA"] != "/etc/nats-tls/ca.crt" {
			t.Errorf("%s: NATS_URL %q NATS_CA %q", svc, env["NATS_URL"], env["NATS_CA"])
		}
		mounted := false
		for _, m := range nested[[]any](t, c, "volumeMounts") {
			mounted = mounted || m.(map[string]any)["mountPath"] == "/etc/nats-tls"
		}
		if !mounted {
			t.Errorf("%s does not mount the CA", svc)
		}
	}
}

// secretRef is the Secret name and key a container's variable is read from ("" when it is a value).
func secretRef(t *testing.T, c map[string]any, name string) (secret, key string) {
	t.Helper()
	for _, e := range nested[[]any](t, c, "env") {
		m := e.(map[string]any)
		if m["name"] != name {
			continue
		}
		ref, _ := m["valueFrom"].(map[string]any)["secretKeyRef"].(map[string]any)
		s, _ := ref["name"].(string)
		k, _ := ref["key"].(string)
		return s, k
	}
	return "", ""
}

// With an external or CloudNativePG database, userService.database.existingSecret gives the login roles an
// administrator made: the service and the API read their URLs from it (service-url, api-url), only the migrate
// init container reads the owner's URL (the external Secret, or the operator's <cluster>-app), and the chart
// generates no passwords of its own for them. Without it, the one URL of before.
func TestExternalAndCloudNativePGDatabasesTakeTheLoginRolesFromASecret(t *testing.T) {
	for _, tc := range []struct {
		name        string
		args        []string
		owner       [2]string // the migrate container's MIGRATE_DATABASE_URL
		leastPriv   bool
		serviceFrom [2]string // the service's DATABASE_URL
	}{
		{"external", []string{"-f", "testdata/values-external-db.yaml", "--set", "userService.database.existingSecret=bbq-login-roles"},
			[2]string{"bbq-connected-bbq-database-url", "url"}, true, [2]string{"bbq-login-roles", "service-url"}},
		{"cloudnativepg", []string{"-f", "testdata/values-cloudnativepg.yaml", "--set", "userService.database.existingSecret=bbq-login-roles"},
			[2]string{"bbq-connected-bbq-db-app", "uri"}, true, [2]string{"bbq-connected-bbq-db-app", "uri"}},
		{"cloudnativepg without it", []string{"-f", "testdata/values-cloudnativepg.yaml"},
			[2]string{}, false, [2]string{"bbq-connected-bbq-db-app", "uri"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := rendered(t, tc.args...)
			spec := nested[map[string]any](t, get(t, objs, "Deployment/bbq-connected-bbq-user-service"), "spec", "template", "spec")
			main := nested[[]any](t, spec, "containers")[0].(map[string]any)
			migrate := nested[[]any](t, spec, "initContainers")[0].(map[string]any)
			if _, ok := objs["Secret/bbq-connected-bbq-user-service-db"]; ok {
				t.Error("a generated user-service-db Secret: the login roles are the administrator's")
			}
			if !tc.leastPriv {
				if s, k := secretRef(t, main, "DATABASE_URL"); [2]string{s, k} != tc.serviceFrom {
					t.Errorf("DATABASE_URL from %s/%s, want %v", s, k, tc.serviceFrom)
				}
				if _, ok := envNames(t, main)["API_DATABASE_URL"]; ok {
					t.Error("API_DATABASE_URL without login roles")
				}
				return
			}
			for v, key := range map[string]string{"DATABASE_URL": "service-url", "API_DATABASE_URL": "api-url"} {
				if s, k := secretRef(t, main, v); s != "bbq-login-roles" || k != key {
					t.Errorf("%s from %s/%s, want bbq-login-roles/%s", v, s, k, key)
				}
			}
			if _, ok := envNames(t, main)["MIGRATE_DATABASE_URL"]; ok {
				t.Error("the service container has the owner's MIGRATE_DATABASE_URL")
			}
			if s, k := secretRef(t, migrate, "MIGRATE_DATABASE_URL"); [2]string{s, k} != tc.owner {
				t.Errorf("migrate's MIGRATE_DATABASE_URL from %s/%s, want %v", s, k, tc.owner)
			}
		})
	}
}

package writeback_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/connectedbbq/platform/services/user-service/internal/store"
)

// The claims against the real Keycloak: a person's access token carries `tenant` (the default tenant) and
// `tenant_role` (the role in it), and both change, after a token refresh, when the person switches tenant
// and when an admin changes their role in the default tenant (the user service writes the attributes back).
func TestTokensCarryTheDefaultTenantAndRole(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id, tok := e.realm.ConfirmedUser(t, "pat@example.com", "Gr1ll-Master-2026!", "Pat Claims")
	// Pat: admin of grill-a (the default), member of grill-b, whose admin is boss.
	e.sql(t, `INSERT INTO tenants (id, display_name, kind) VALUES ('grill-a', 'A', 'personal'), ('grill-b', 'B', 'personal')`)
	e.sql(t, `INSERT INTO users (id, realm, email, name, email_verified, registered, status, tenant_id, role)
		VALUES ($1, $2, 'pat@example.com', 'Pat Claims', true, true, 'active', 'grill-a', 'admin'),
			('boss', $2, 'boss@example.com', 'Boss', true, true, 'active', 'grill-b', 'admin')`, id, e.realm.Name)
	e.sql(t, `INSERT INTO memberships (tenant_id, user_id, role) VALUES ('grill-a', $1, 'admin'), ('grill-b', $1, 'member'), ('grill-b', 'boss', 'admin')`, id)
	e.requestSync(t, id)
	w := e.writer(t, e.db, e.kc, prometheus.NewRegistry())
	claimsAfterWriteBack := func(step string) (tenant, role any) {
		t.Helper()
		if n := w.Round(ctx); n != 1 {
			t.Fatalf("%s: the write-back claimed %d jobs; want 1", step, n)
		}
		tok = e.realm.Refresh(t, tok)
		c, err := tok.Claims()
		if err != nil {
			t.Fatal(err)
		}
		return c["tenant"], c["tenant_role"]
	}
	if tenant, role := claimsAfterWriteBack("first write-back"); tenant != "grill-a" || role != "admin" {
		t.Errorf("first token: tenant %v, tenant_role %v; want grill-a, admin", tenant, role)
	}
	if _, err := e.db.SwitchDefaultTenant(ctx, store.Caller{UserID: id}, "grill-b"); err != nil {
		t.Fatal(err)
	}
	if tenant, role := claimsAfterWriteBack("switch"); tenant != "grill-b" || role != "member" {
		t.Errorf("after the switch: tenant %v, tenant_role %v; want grill-b, member", tenant, role)
	}
	if _, err := e.db.ChangeRole(ctx, store.Caller{UserID: "boss", TenantID: "grill-b"}, id, "admin"); err != nil {
		t.Fatal(err)
	}
	if tenant, role := claimsAfterWriteBack("role change"); tenant != "grill-b" || role != "admin" {
		t.Errorf("after the role change: tenant %v, tenant_role %v; want grill-b, admin", tenant, role)
	}
	// The ID token carries them too (the dashboard reads the role from it).
	if c, err := tok.IDClaims(); err != nil || c["tenant"] != "grill-b" || c["tenant_role"] != "admin" {
		t.Errorf("ID token claims %v (%v)", c, err)
	}
}

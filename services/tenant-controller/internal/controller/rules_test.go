package controller_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/connectedbbq/platform/services/tenant-controller/api/v1alpha1"
)

// sql runs a statement on the user service's database, or reads one value when into is given.
func (u *userService) sql(t *testing.T, q string, into any, args ...any) error {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if into != nil {
		return conn.QueryRow(ctx, q, args...).Scan(into)
	}
	_, err = conn.Exec(ctx, q, args...)
	return err
}

// condition is the tenant's condition of type typ, as "Status Reason".
func (h *harness) condition(t *testing.T, name, typ string) string {
	tn, ok := h.tenant(t, name)
	if !ok {
		return "resource gone"
	}
	c := meta.FindStatusCondition(tn.Status.Conditions, typ)
	if c == nil {
		return "missing"
	}
	return string(c.Status) + " " + c.Reason
}

// The Tenant resource's rules: an admin listed after a person joined promotes them; deleting a tenant that
// still has members ends in a condition saying so (and completes once they are gone); the id of a
// personal tenant cannot be taken, and deleting such a resource leaves the personal tenant alone.
func TestTenantResourceRules(t *testing.T) {
	h := start(t)
	ctx := context.Background()
	tn := &v1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "grill"}, Spec: v1.TenantSpec{DisplayName: "Grill",
		EmailDomains: []string{"grill.example"}, Admins: []string{"ann@grill.example"}}}
	if err := h.k8s.Create(ctx, tn); err != nil {
		t.Fatal(err)
	}
	eventually(t, "grill ready", func() (bool, string) { return h.synced(t, "grill", allTrue) })
	// bob joined by his domain, as a member.
	if err := h.us.sql(t, `INSERT INTO users (id, realm, email, name, email_verified, registered, status, tenant_id, role)
		VALUES ('bob', 'bbq', 'bob@grill.example', 'Bob', true, true, 'active', 'grill', 'member')`, nil); err != nil {
		t.Fatal(err)
	}
	if err := h.us.sql(t, `INSERT INTO memberships (tenant_id, user_id, role, source) VALUES ('grill', 'bob', 'member', 'domain')`, nil); err != nil {
		t.Fatal(err)
	}

	got, _ := h.tenant(t, "grill")
	got.Spec.Admins = append(got.Spec.Admins, "Bob@grill.example")
	if err := h.k8s.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	eventually(t, "bob promoted", func() (bool, string) {
		var role string
		err := h.us.sql(t, `SELECT role FROM memberships WHERE tenant_id = 'grill' AND user_id = 'bob'`, &role)
		return err == nil && role == "admin", fmt.Sprintf("bob is %s (%v)", role, err)
	})

	if err := h.k8s.Delete(ctx, got); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deletion blocked by members", func() (bool, string) {
		c := h.condition(t, "grill", v1.ConditionReady)
		return c == "False "+v1.ReasonHasMembers, c
	})
	if _, ok, err := h.us.get("grill"); !ok || err != nil {
		t.Fatalf("the user service lost grill while it has members (%v)", err)
	}
	// bob goes (here: his account is deleted); the deletion completes by itself.
	if err := h.us.sql(t, `DELETE FROM users WHERE id = 'bob'`, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "grill deleted once empty", func() (bool, string) {
		_, present := h.tenant(t, "grill")
		_, inUS, err := h.us.get("grill")
		return !present && !inUS && err == nil, fmt.Sprintf("resource %v, user service %v (%v)", present, inUS, err)
	})

	// A personal tenant's id (a DNS label, like every UUID).
	const personal = "0b7e2f1a-3c4d-5e6f-8a9b-0c1d2e3f4a5b"
	if err := h.us.sql(t, `INSERT INTO tenants (id, display_name, kind) VALUES ($1, 'Pat''s tenant', 'personal')`, nil, personal); err != nil {
		t.Fatal(err)
	}
	taker := &v1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: personal}, Spec: v1.TenantSpec{DisplayName: "Taken"}}
	if err := h.k8s.Create(ctx, taker); err != nil {
		t.Fatal(err)
	}
	eventually(t, "personal id refused", func() (bool, string) {
		c := h.condition(t, personal, v1.ConditionUserServiceSynced)
		return c == "False "+v1.ReasonPersonalTenantID, c
	})
	if err := h.k8s.Delete(ctx, taker); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the refused resource goes, the personal tenant stays", func() (bool, string) {
		_, present := h.tenant(t, personal)
		var name string
		err := h.us.sql(t, `SELECT display_name FROM tenants WHERE id = $1 AND kind = 'personal'`, &name, personal)
		return !present && err == nil && name == "Pat's tenant", fmt.Sprintf("resource %v, personal tenant %q (%v)", present, name, err)
	})
}

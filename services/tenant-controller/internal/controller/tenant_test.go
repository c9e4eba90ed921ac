package controller_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/connectedbbq/platform/pkg/keycloak"
	v1 "github.com/connectedbbq/platform/services/tenant-controller/api/v1alpha1"
	"github.com/connectedbbq/platform/services/tenant-controller/internal/controller"
	"github.com/connectedbbq/platform/services/tenant-controller/internal/userservice"
	"github.com/connectedbbq/platform/testing/kctest"
	"github.com/connectedbbq/platform/testing/pgtest"
)

const adminToken = "test-admin-token"

// Shared by the tests of this binary: a real Keycloak (each test gets its own realm), a real Postgres
// (each test its own database) and the user-service binary. Set once in TestMain, read-only after.
var (
	kc             *kctest.Keycloak
	pg             *pgtest.Server
	userServiceBin string
)

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tenant-controller-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	if userServiceBin, err = buildUserService(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if kc, err = kctest.Start(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "start Keycloak:", err)
		return 1
	}
	defer kc.Stop()
	return pgtest.Main(m, &pg)
}

type harness struct {
	k8s   client.Client
	us    *userService
	admin *keycloak.Client // the realm's master admin, to look at groups independently of the controller
}

// start runs a real kube-apiserver and etcd with the chart's CRD, and the controller against them.
func start(t *testing.T) *harness {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make test-tenant-controller` (it builds kube-apiserver and etcd)")
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "..", "..", "deploy", "helm", "connected-bbq", "crds")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Logf("stop envtest: %v", err)
		}
	})
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	// The controller signs in as the shipped realm's tenant-controller service account, with its real roles.
	realm := kctest.NewRealm(t, kc, kctest.Options{})
	h := &harness{us: startUserService(t, userServiceBin, pg, realm, adminToken), admin: realm.Admin(t)}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		LeaderElection:          true, // the same path as in the cluster, against the real API server's leases
		LeaderElectionID:        "tenant-controller-test",
		LeaderElectionNamespace: "default",
		Logger:                  log.Log,
		// Every test starts its own manager in this process.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatalf("manager: %v", err)
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	r := &controller.TenantReconciler{
		Client:      mgr.GetClient(),
		UserService: userservice.New(h.us.AdminURL, adminToken, hc),
		Groups:      realm.ServiceClient(t, "tenant-controller"),
		RetryAfter:  500 * time.Millisecond,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	h.k8s = mgr.GetClient()
	return h
}

// eventually polls cond until it holds or 30 seconds pass.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not within 30s; last: %s", what, last)
}

func (h *harness) tenant(t *testing.T, name string) (*v1.Tenant, bool) {
	t.Helper()
	var tn v1.Tenant
	err := h.k8s.Get(context.Background(), client.ObjectKey{Name: name}, &tn)
	if err != nil {
		return nil, false
	}
	return &tn, true
}

// synced says whether the tenant's status describes its current generation with the wanted conditions.
func (h *harness) synced(t *testing.T, name string, want map[string]metav1.ConditionStatus) (bool, string) {
	tn, ok := h.tenant(t, name)
	if !ok {
		return false, "tenant not found"
	}
	if tn.Status.ObservedGeneration != tn.Generation {
		return false, "observedGeneration behind"
	}
	for typ, status := range want {
		c := meta.FindStatusCondition(tn.Status.Conditions, typ)
		if c == nil || c.Status != status || c.ObservedGeneration != tn.Generation {
			return false, typ + " not " + string(status) + ": " + conditionString(c)
		}
	}
	return true, ""
}

func conditionString(c *metav1.Condition) string {
	if c == nil {
		return "missing"
	}
	return string(c.Status) + " " + c.Reason + " " + c.Message
}

var allTrue = map[string]metav1.ConditionStatus{v1.ConditionReady: metav1.ConditionTrue,
	v1.ConditionUserServiceSynced: metav1.ConditionTrue, v1.ConditionKeycloakSynced: metav1.ConditionTrue}

func TestTenantLifecycle(t *testing.T) {
	h := start(t)
	ctx := context.Background()
	tn := &v1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "acme"}, Spec: v1.TenantSpec{
		DisplayName: "ACME Grills", EmailDomains: []string{"acme.com"}, Admins: []string{"boss@acme.com"}}}
	if err := h.k8s.Create(ctx, tn); err != nil {
		t.Fatalf("create: %v", err)
	}

	eventually(t, "created tenant ready", func() (bool, string) { return h.synced(t, "acme", allTrue) })
	want := tenant{DisplayName: "ACME Grills", EmailDomains: []string{"acme.com"}, Admins: []string{"boss@acme.com"}}
	if got, ok, err := h.us.get("acme"); err != nil || !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("user service tenant = %+v (present %v, %v), want %+v", got, ok, err, want)
	}
	got, _ := h.tenant(t, "acme")
	group, err := h.admin.GetGroup(ctx, got.Status.KeycloakGroupID)
	if err != nil || group.Name != "acme" || got.Status.TenantID != "acme" {
		t.Fatalf("Keycloak group %q = %+v (%v), tenant id %q", got.Status.KeycloakGroupID, group, err, got.Status.TenantID)
	}
	if d := group.Attributes["displayName"]; len(d) != 1 || d[0] != "ACME Grills" {
		t.Fatalf("group attributes = %v", group.Attributes)
	}
	groupID := group.ID
	if !reflect.DeepEqual(got.Finalizers, []string{controller.Finalizer}) {
		t.Fatalf("finalizers = %v", got.Finalizers)
	}

	// An update reaches the user service, and the status follows the new generation.
	got.Spec.DisplayName = "ACME Smokers"
	got.Spec.Suspended = true
	got.Spec.EmailDomains = []string{"acme.com", "acme.org"}
	got.Spec.IdentityProvider = "acme-sso"
	if err := h.k8s.Update(ctx, got); err != nil {
		t.Fatalf("update: %v", err)
	}
	eventually(t, "updated tenant synced", func() (bool, string) {
		us, _, err := h.us.get("acme")
		if err != nil {
			return false, err.Error()
		}
		if !us.Suspended || us.DisplayName != "ACME Smokers" || len(us.EmailDomains) != 2 || us.IdentityProvider != "acme-sso" {
			return false, "user service still has " + us.DisplayName
		}
		g, err := h.admin.GetGroup(ctx, groupID)
		if err != nil || len(g.Attributes["suspended"]) != 1 || g.Attributes["suspended"][0] != "true" {
			return false, fmt.Sprintf("Keycloak group %+v (%v)", g, err)
		}
		return h.synced(t, "acme", allTrue)
	})

	// Deleting cleans up both sides, then the finalizer lets the resource go.
	if err := h.k8s.Delete(ctx, got); err != nil {
		t.Fatalf("delete: %v", err)
	}
	eventually(t, "deleted tenant cleaned up", func() (bool, string) {
		if _, ok := h.tenant(t, "acme"); ok {
			return false, "resource still there"
		}
		if _, ok, err := h.us.get("acme"); ok || err != nil {
			return false, fmt.Sprintf("user service still has acme (%v)", err)
		}
		if _, err := h.admin.GetGroup(ctx, groupID); !errors.Is(err, keycloak.ErrNotFound) {
			return false, fmt.Sprintf("Keycloak group acme: %v", err)
		}
		return true, ""
	})
}

func TestTenantDomainConflict(t *testing.T) {
	h := start(t)
	ctx := context.Background()
	first := &v1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "first"},
		Spec: v1.TenantSpec{DisplayName: "First", EmailDomains: []string{"shared.example"}}}
	second := &v1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "second"},
		Spec: v1.TenantSpec{DisplayName: "Second", EmailDomains: []string{"shared.example"}}}
	if err := h.k8s.Create(ctx, first); err != nil {
		t.Fatal(err)
	}
	eventually(t, "first ready", func() (bool, string) { return h.synced(t, "first", allTrue) })
	if err := h.k8s.Create(ctx, second); err != nil {
		t.Fatal(err)
	}
	eventually(t, "second reports the conflict", func() (bool, string) {
		ok, msg := h.synced(t, "second", map[string]metav1.ConditionStatus{v1.ConditionReady: metav1.ConditionFalse,
			v1.ConditionUserServiceSynced: metav1.ConditionFalse, v1.ConditionKeycloakSynced: metav1.ConditionTrue})
		if !ok {
			return false, msg
		}
		tn, _ := h.tenant(t, "second")
		c := meta.FindStatusCondition(tn.Status.Conditions, v1.ConditionUserServiceSynced)
		return c.Reason == v1.ReasonDomainConflict, "reason " + c.Reason
	})

	// The first tenant lets the domain go; the second one gets it without any change of its own.
	if err := h.k8s.Delete(ctx, first); err != nil {
		t.Fatal(err)
	}
	eventually(t, "second ready after the conflict resolves", func() (bool, string) { return h.synced(t, "second", allTrue) })
}

func TestTenantValidation(t *testing.T) {
	h := start(t)
	ok := v1.TenantSpec{DisplayName: "x"}
	tests := []struct {
		name   string
		tenant string
		spec   v1.TenantSpec
	}{
		{"empty display name", "invalid", v1.TenantSpec{}},
		{"bad domain", "invalid", v1.TenantSpec{DisplayName: "x", EmailDomains: []string{"not a domain"}}},
		{"bad admin", "invalid", v1.TenantSpec{DisplayName: "x", Admins: []string{"nobody"}}},
		{"duplicate domain", "invalid", v1.TenantSpec{DisplayName: "x", EmailDomains: []string{"a.com", "a.com"}}},
		{"identity provider alias with a space", "invalid", v1.TenantSpec{DisplayName: "x", IdentityProvider: "corp sso"}},
		{"identity provider alias starting with '-'", "invalid", v1.TenantSpec{DisplayName: "x", IdentityProvider: "-corp"}},
		{"name not a DNS label", "acme.example", ok}, // the tenant id user-service accepts
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tn := &v1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: tc.tenant}, Spec: tc.spec}
			if err := h.k8s.Create(context.Background(), tn); err == nil {
				t.Fatal("the API server accepted an invalid Tenant")
			}
		})
	}
}

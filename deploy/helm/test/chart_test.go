package test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

const chartDir = "../connected-bbq"

// cluster is one real API server shared by the value sets; each gets its own namespace and release.
type cluster struct {
	k8s        client.Client
	kubeconfig string
	helm       string
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make test-helm` (it builds kube-apiserver and etcd)")
	}
	helm := os.Getenv("HELM")
	if helm == "" {
		var err error
		if helm, err = exec.LookPath("helm"); err != nil {
			t.Fatal("no helm binary: run scripts/setup-helm.sh or set HELM")
		}
	}
	env := &envtest.Environment{}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	user, err := env.AddUser(envtest.User{Name: "helm", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{k8s: c, kubeconfig: path, helm: helm}
}

// run runs helm with a private cache and config, so tests never touch the user's helm setup. It returns
// stdout; stderr (warnings from the API server, helm's logs) goes to the test log, and into the error.
func (c *cluster) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, stderr, err := c.runStderr(t, args...)
	if err != nil {
		return out + stderr, err
	}
	return out, nil
}

func (c *cluster) runStderr(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(c.helm, append(args, "--kubeconfig", c.kubeconfig)...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config",
		"HELM_DATA_HOME="+home+"/data")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// restrictedNamespace makes a namespace that enforces the restricted Pod Security Standard.
func (c *cluster) restrictedNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
		"pod-security.kubernetes.io/warn":    "restricted",
		"pod-security.kubernetes.io/audit":   "restricted",
	}}}
	if err := c.k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	// No controller-manager runs here to make the default ServiceAccount; the helm test pod uses it.
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: name}}
	if err := c.k8s.Create(context.Background(), sa); err != nil {
		t.Fatal(err)
	}
}

// decode splits a multi-document manifest into objects.
func decode(t *testing.T, manifest string) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	d := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	for {
		var u unstructured.Unstructured
		err := d.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("decode manifest: %v", err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, &u)
		}
	}
}

// secrets returns the data of the release's Secrets, by name.
func (c *cluster) secrets(t *testing.T, ns string) map[string]map[string][]byte {
	t.Helper()
	var list corev1.SecretList
	if err := c.k8s.List(context.Background(), &list, client.InNamespace(ns),
		client.MatchingLabels{"app.kubernetes.io/part-of": "connected-bbq"}); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string][]byte{}
	for _, s := range list.Items {
		out[s.Name] = s.Data
	}
	return out
}

// valueSets are the installs the chart must support. The file's name is the release name.
var valueSets = []struct {
	name   string
	values string // testdata file; empty: the defaults
	expect []string
	setup  func(t *testing.T, c *cluster) // what the cluster must hold first
}{
	{name: "default", expect: []string{"StatefulSet/default-connected-bbq-nats", "StatefulSet/default-connected-bbq-postgres",
		"Deployment/default-connected-bbq-mailpit", "Deployment/default-connected-bbq-tenant-controller",
		"Secret/default-connected-bbq-keycloak-db"}},
	{name: "dev-keycloak", values: "testdata/values-dev-keycloak.yaml", expect: []string{"Deployment/dev-keycloak-connected-bbq-keycloak"}},
	{name: "knobs", values: "testdata/values-knobs.yaml", expect: []string{"Deployment/knobs-grill-keycloak",
		"StatefulSet/knobs-grill-keycloak-db"}, setup: knobPriorityClasses},
	{name: "ha", values: "testdata/values-ha.yaml", expect: []string{"PodDisruptionBudget/ha-connected-bbq-nats",
		"PodDisruptionBudget/ha-connected-bbq-user-service", "PodDisruptionBudget/ha-connected-bbq-keycloak"}},
	{name: "external-db", values: "testdata/values-external-db.yaml", expect: []string{"Secret/external-db-connected-bbq-database-url"}},
	{name: "production-keycloak", values: "testdata/values-production-keycloak.yaml", expect: []string{
		"StatefulSet/production-keycloak-connected-bbq-keycloak-db", "Secret/production-keycloak-connected-bbq-keycloak-db",
		"Ingress/production-keycloak-connected-bbq-dashboard"}},
}

func TestChartInstallsIntoRealAPIServer(t *testing.T) {
	c := startCluster(t)
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			ns := "bbq-" + vs.name
			c.restrictedNamespace(t, ns)
			if vs.setup != nil {
				vs.setup(t, c)
			}
			args := []string{chartDir, "-n", ns}
			if vs.values != "" {
				args = append(args, "-f", vs.values)
			}
			start := time.Now()
			out, stderr, err := c.runStderr(t, append([]string{"install", vs.name}, args...)...)
			if err != nil {
				t.Fatalf("helm install: %v\n%s%s", err, out, stderr)
			}
			if strings.Contains(stderr, "PodSecurity") || strings.Contains(stderr, "Warning") {
				t.Errorf("the API server warned:\n%s", stderr)
			}
			t.Logf("helm install %s: %v", vs.name, time.Since(start).Round(time.Millisecond))

			manifest, err := c.run(t, "get", "manifest", vs.name, "-n", ns)
			if err != nil {
				t.Fatalf("helm get manifest: %v\n%s", err, manifest)
			}
			objs := decode(t, manifest)
			c.checkAccepted(t, ns, objs)
			checkExpected(t, objs, vs.expect)
			c.checkCRDEstablished(t)
			c.checkPodsAdmitted(t, ns, objs)
			c.checkTestPodAdmitted(t, ns, vs.name, args)

			before := c.secrets(t, ns)
			if len(before) < 5 {
				t.Fatalf("only %d generated secrets: %v", len(before), keys(before))
			}
			out, err = c.run(t, append([]string{"upgrade", vs.name}, append(args, "--set", "dashboard.replicas=2")...)...)
			if err != nil {
				t.Fatalf("helm upgrade: %v\n%s", err, out)
			}
			if after := c.secrets(t, ns); !reflect.DeepEqual(before, after) {
				t.Fatalf("helm upgrade changed the generated secrets: before %v, after %v", keys(before), keys(after))
			}
		})
	}
}

// checkAccepted reads back every object of the release from the API server.
func (c *cluster) checkAccepted(t *testing.T, ns string, objs []*unstructured.Unstructured) {
	t.Helper()
	if len(objs) < 20 {
		t.Fatalf("only %d objects in the release", len(objs))
	}
	for _, o := range objs {
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(o.GroupVersionKind())
		key := client.ObjectKey{Name: o.GetName()}
		if o.GetKind() != "ClusterRole" && o.GetKind() != "ClusterRoleBinding" {
			key.Namespace = ns
		}
		if err := c.k8s.Get(context.Background(), key, got); err != nil {
			t.Errorf("%s %s not in the API server: %v", o.GetKind(), o.GetName(), err)
		}
	}
}

func checkExpected(t *testing.T, objs []*unstructured.Unstructured, want []string) {
	t.Helper()
	have := map[string]bool{}
	for _, o := range objs {
		have[o.GetKind()+"/"+o.GetName()] = true
	}
	for _, w := range want {
		if !have[w] {
			t.Errorf("the release has no %s", w)
		}
	}
}

func (c *cluster) checkCRDEstablished(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var crd apiextensionsv1.CustomResourceDefinition
		err := c.k8s.Get(context.Background(), client.ObjectKey{Name: "tenants.platform.connectedbbq.dev"}, &crd)
		if err == nil {
			for _, cond := range crd.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Tenant CRD is not established: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkPodsAdmitted creates (dry run) a Pod from every workload's template in the namespace that enforces
// the restricted Pod Security Standard: Deployments only warn, a Pod is refused.
func (c *cluster) checkPodsAdmitted(t *testing.T, ns string, objs []*unstructured.Unstructured) {
	t.Helper()
	n := 0
	for _, o := range objs {
		if o.GetKind() != "Deployment" && o.GetKind() != "StatefulSet" {
			continue
		}
		tmpl, ok, err := unstructured.NestedMap(o.Object, "spec", "template")
		if !ok || err != nil {
			t.Fatalf("%s %s has no pod template", o.GetKind(), o.GetName())
		}
		if o.GetKind() == "StatefulSet" { // the StatefulSet controller adds a volume per claim template
			claims, _, _ := unstructured.NestedSlice(o.Object, "spec", "volumeClaimTemplates")
			vols, _, _ := unstructured.NestedSlice(tmpl, "spec", "volumes")
			for _, c := range claims {
				name, _, _ := unstructured.NestedString(c.(map[string]any), "metadata", "name")
				vols = append(vols, map[string]any{"name": name, "persistentVolumeClaim": map[string]any{"claimName": name}})
			}
			if err := unstructured.SetNestedSlice(tmpl, vols, "spec", "volumes"); err != nil {
				t.Fatal(err)
			}
		}
		pod := &unstructured.Unstructured{Object: tmpl}
		pod.SetAPIVersion("v1")
		pod.SetKind("Pod")
		pod.SetNamespace(ns)
		pod.SetName(o.GetName() + "-probe")
		if err := c.k8s.Create(context.Background(), pod, client.DryRunAll); err != nil {
			t.Errorf("a pod of %s %s is refused: %v", o.GetKind(), o.GetName(), err)
		}
		n++
	}
	if n < 6 {
		t.Errorf("only %d workloads checked", n)
	}
	// And the check has teeth: a pod without the restricted settings is refused here.
	bad := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "unrestricted", Namespace: ns},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if err := c.k8s.Create(context.Background(), bad, client.DryRunAll); err == nil ||
		!strings.Contains(err.Error(), "PodSecurity") {
		t.Errorf("Pod Security admission is not enforcing in %s: %v", ns, err)
	}
}

// checkTestPodAdmitted renders the `helm test` hook and creates it (dry run): the API server accepts it.
func (c *cluster) checkTestPodAdmitted(t *testing.T, ns, release string, args []string) {
	t.Helper()
	out, err := c.run(t, append([]string{"template", release}, append(args, "--show-only",
		"templates/tests/signup-test.yaml")...)...)
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	for _, o := range decode(t, out) {
		o.SetNamespace(ns)
		if err := c.k8s.Create(context.Background(), o, client.DryRunAll); err != nil {
			t.Errorf("helm test %s %s refused: %v", o.GetKind(), o.GetName(), err)
		}
	}
}

func keys(m map[string]map[string][]byte) []string {
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s(%d keys)", k, len(v)))
	}
	return out
}

// knobPriorityClasses makes the PriorityClasses values-knobs.yaml names: the API server admits no pod that
// names a missing one.
func knobPriorityClasses(t *testing.T, c *cluster) {
	t.Helper()
	for _, block := range workloadValues {
		pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "bbq-" + strings.ToLower(block)}, Value: 1000}
		if err := c.k8s.Create(context.Background(), pc); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
}

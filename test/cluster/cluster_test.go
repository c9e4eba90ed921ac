// Package cluster runs the chart's pods on a real single-node Kubernetes (scripts/cluster.sh: kubelet,
// containerd, CoreDNS, kube-proxy) with our images and stand-ins for the third-party ones
// (scripts/standin-images.sh), in a namespace that enforces the restricted Pod Security Standard. It waits for
// every pod to be ready and runs the chart's own `helm test`: a user created in the in-cluster Keycloak
// travels through idp-hook, NATS and user-service and comes back as a tenant. Then it proves that the default
// install keeps its data: a person signs in through the dashboard, every pod is deleted, and once they are all
// ready again the same person signs in with the same password and sees the same tenant. `make test-cluster`
// brings the cluster up, sets BBQ_KUBECONFIG and takes it down.
package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/connectedbbq/platform/dev/stack"
)

const (
	namespace = "bbq"
	release   = "bbq"
)

func TestChartRunsOnARealCluster(t *testing.T) {
	kubeconfig := os.Getenv("BBQ_KUBECONFIG")
	if kubeconfig == "" {
		t.Fatal("BBQ_KUBECONFIG is not set: run `make test-cluster`, which starts the cluster (scripts/cluster.sh up)")
	}
	root, err := stack.Root()
	if err != nil {
		t.Fatal(err)
	}
	k := &kube{t: t, root: root, env: append(os.Environ(), "KUBECONFIG="+kubeconfig)}
	begin := time.Now()

	ours := k.lines("scripts/images.sh")
	standin := map[string]string{}
	for _, l := range k.lines("scripts/standin-images.sh") {
		name, image, _ := strings.Cut(l, "=")
		standin[name] = image
	}
	k.run(append([]string{"scripts/cluster.sh", "load"}, append(ours, values(standin)...)...)...)
	t.Logf("images built and loaded in %s: %v, stand-ins %v", time.Since(begin).Round(time.Second), ours, standin)

	k.volumes(t.TempDir(), 2)
	k.run("kubectl", "create", "namespace", namespace)
	k.run("kubectl", "label", "namespace", namespace, "bbq-cluster/test=true",
		"pod-security.kubernetes.io/enforce=restricted", "pod-security.kubernetes.io/warn=restricted")
	t.Cleanup(func() {
		if t.Failed() {
			k.diagnose()
		}
		k.tryRun("helm", "uninstall", release, "-n", namespace, "--wait", "--timeout", "2m")
		k.tryRun("kubectl", "delete", "namespace", namespace, "--timeout", "2m")
	})

	set := []string{"image.pullPolicy=Never"}
	for key, component := range map[string]string{"nats": "nats", "postgres": "postgres", "keycloak": "keycloak",
		"mailpit": "mailpit", "tests": "curl"} {
		repo, tag, _ := strings.Cut(standin[component], ":")
		set = append(set, key+".image.repository="+repo, key+".image.tag="+tag)
		if key != "tests" {
			set = append(set, key+".image.pullPolicy=Never")
		}
	}
	install := time.Now()
	k.run("helm", "install", release, "deploy/helm/connected-bbq", "-n", namespace, "--wait", "--timeout", "15m",
		"--set-string", strings.Join(set, ","))
	ready := time.Since(install)
	t.Logf("helm install --wait: every Deployment and StatefulSet ready after %s", ready.Round(time.Second))

	pods := k.allReady(time.Minute)

	test := time.Now()
	out := k.run("helm", "test", release, "-n", namespace, "--timeout", "5m", "--logs")
	t.Logf("helm test passed in %s:\n%s", time.Since(test).Round(time.Second), lastLines(out, 6))

	kept := k.keepsData()

	summary := fmt.Sprintf("cluster: %d pods ready %s after helm install (namespace enforcing the restricted Pod Security "+
		"Standard), helm test passed; restarts %s; %s; total %s", len(pods), ready.Round(time.Second), restarts(pods),
		kept, time.Since(begin).Round(time.Second))
	t.Log(summary)
	fmt.Println(summary)
}

// keepsData signs a new person in, restarts every pod (Keycloak's and Postgres's included), and signs the
// same person in again: same password, same tenant.
func (k *kube) keepsData() string {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	step := func(d time.Duration) (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, d) }

	c, done := step(4 * time.Minute)
	p := k.createPerson(c)
	done()
	c, done = step(2 * time.Minute)
	before := k.signInUntil(c, p)
	done()
	if !slices.Contains(before, p.tenant) {
		k.fatalf("%s signed in but sees tenants %v, not %s", p.email, before, p.tenant)
	}
	k.t.Logf("%s signed in through the dashboard; tenant %s", p.email, p.tenant)

	c, done = step(10 * time.Minute)
	took := k.restartEveryPod(c)
	done()
	k.t.Logf("every pod deleted and ready again after %s", took.Round(time.Second))

	c, done = step(3 * time.Minute)
	again := time.Now()
	after := k.signInUntil(c, p)
	done()
	k.t.Logf("%s signed in again %s after the pods were ready; tenants %v", p.email, time.Since(again).Round(time.Second), after)
	if !slices.Contains(after, p.tenant) {
		k.fatalf("after the restart %s sees tenants %v, not %s (before: %v)", p.email, after, p.tenant, before)
	}
	return fmt.Sprintf("every pod restarted (ready again after %s): %s still signs in, same tenant",
		took.Round(time.Second), p.email)
}

// kube runs the cluster's tools from the checkout.
type kube struct {
	t       *testing.T
	root    string
	env     []string
	reasons []string // why the run failed, repeated after the diagnosis
}

// fatalf fails the run and keeps the reason: diagnose repeats it last, where a CI log's tail shows it.
func (k *kube) fatalf(format string, args ...any) {
	k.t.Helper()
	k.reasons = append(k.reasons, fmt.Sprintf(format, args...))
	k.t.Fatalf(format, args...)
}

// allReady waits until every pod is ready. helm's --wait sees each Deployment available once, but a pod
// whose readiness follows a peer's (the dashboard's follows Keycloak's) can be unready a moment later.
func (k *kube) allReady(within time.Duration) []pod {
	k.t.Helper()
	begin := time.Now()
	for {
		pods := k.pods()
		var unready []string
		for _, p := range pods {
			if !p.ready() {
				unready = append(unready, fmt.Sprintf("%s (%s)", p.Metadata.Name, p.Status.Phase))
			}
		}
		switch {
		case len(unready) == 0:
			if waited := time.Since(begin); waited > 5*time.Second {
				k.t.Logf("every pod ready %s after helm install --wait returned", waited.Round(time.Second))
			}
			return pods
		case time.Since(begin) > within:
			k.fatalf("%s after helm install --wait, pods not ready: %s", within, strings.Join(unready, ", "))
		}
		time.Sleep(2 * time.Second)
	}
}

func (k *kube) command(args ...string) *exec.Cmd {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir, cmd.Env = k.root, k.env
	return cmd
}

func (k *kube) run(args ...string) string {
	k.t.Helper()
	var stderr bytes.Buffer
	cmd := k.command(args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		k.fatalf("%s: %v\n%s\n%s", strings.Join(args, " "), err, lastLines(string(out), 20), lastLines(stderr.String(), 20))
	}
	return string(out)
}

func (k *kube) tryRun(args ...string) {
	if out, err := k.command(args...).CombinedOutput(); err != nil {
		k.t.Logf("%s: %v\n%s", strings.Join(args, " "), err, lastLines(string(out), 5))
	}
}

func (k *kube) lines(args ...string) []string {
	k.t.Helper()
	var out []string
	sc := bufio.NewScanner(strings.NewReader(k.run(args...)))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// volumes makes n hostPath PersistentVolumes under dir for the StatefulSets' claims: the node has no
// storage provisioner. Their directories are open to every uid, as a provisioner's would be to the pod's.
func (k *kube) volumes(dir string, n int) {
	k.t.Helper()
	var manifest strings.Builder
	for i := range n {
		path := filepath.Join(dir, fmt.Sprint(i))
		if err := os.MkdirAll(path, 0o777); err != nil {
			k.fatalf("%v", err)
		}
		if err := os.Chmod(path, 0o777); err != nil { // past the umask
			k.fatalf("%v", err)
		}
		fmt.Fprintf(&manifest, "---\napiVersion: v1\nkind: PersistentVolume\nmetadata: {name: bbq-test-%d, labels: {bbq-cluster/test: \"true\"}}\n"+
			"spec: {capacity: {storage: 20Gi}, accessModes: [ReadWriteOnce], persistentVolumeReclaimPolicy: Delete, hostPath: {path: %q}}\n", i, path)
	}
	cmd := k.command("kubectl", "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(manifest.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		k.fatalf("persistent volumes: %v\n%s", err, out)
	}
	k.t.Cleanup(func() { k.tryRun("kubectl", "delete", "pv", "-l", "bbq-cluster/test=true", "--wait=false") })
}

type pod struct {
	Metadata struct {
		Name              string
		CreationTimestamp time.Time
	}
	Status struct {
		Phase             string
		PodIP             string
		Conditions        []struct{ Type, Status string }
		ContainerStatuses []struct {
			Name         string
			RestartCount int
		}
	}
}

func (p pod) ready() bool {
	for _, c := range p.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == "True"
		}
	}
	return false
}

func (k *kube) pods() []pod {
	k.t.Helper()
	var list struct{ Items []pod }
	if err := json.Unmarshal([]byte(k.run("kubectl", "get", "pods", "-n", namespace, "-o", "json")), &list); err != nil {
		k.fatalf("pods: %v", err)
	}
	return list.Items
}

// diagnose logs what a failed run needs: the pods, their events, and the logs of those not ready.
func (k *kube) diagnose() {
	show := func(args ...string) {
		out, _ := k.command(args...).CombinedOutput()
		k.t.Logf("$ %s\n%s", strings.Join(args, " "), lastLines(string(out), 40))
	}
	show("kubectl", "get", "nodes", "-o", "custom-columns=NAME:.metadata.name,TAINTS:.spec.taints,TRUE:.status.conditions[?(@.status==\"True\")].type")
	show("kubectl", "get", "pods,pvc", "-n", namespace, "-o", "wide")
	show("kubectl", "get", "events", "-n", namespace, "--sort-by=.lastTimestamp")
	for _, p := range k.pods() {
		if !p.ready() {
			show("kubectl", "logs", "-n", namespace, p.Metadata.Name, "--all-containers", "--tail=30")
		}
	}
	for _, r := range k.reasons {
		k.t.Logf("the run failed: %s", lastLines(r, 12))
	}
}

func restarts(pods []pod) string {
	var parts []string
	for _, p := range pods {
		for _, c := range p.Status.ContainerStatuses {
			if c.RestartCount > 0 {
				parts = append(parts, fmt.Sprintf("%s/%s %d", p.Metadata.Name, c.Name, c.RestartCount))
			}
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func values(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

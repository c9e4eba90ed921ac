package test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// kubeScoreIgnored are kube-score checks we disagree with, and why:
//   - container-image-pull-policy wants Always; our tags are immutable release pins (appVersion), and
//     IfNotPresent is what lets `kind load`/`k3d image import` of locally built images work.
var kubeScoreIgnored = []string{"container-image-pull-policy"}

// valueFiles are the default values plus every value set under testdata.
func valueFiles(t *testing.T) []string {
	t.Helper()
	sets, err := filepath.Glob("testdata/values-*.yaml")
	if err != nil || len(sets) < 4 {
		t.Fatalf("value sets: %v %v", sets, err)
	}
	return append([]string{""}, sets...)
}

func TestHelmLintStrict(t *testing.T) {
	helm := envOr("HELM", "helm")
	for _, v := range valueFiles(t) {
		t.Run(nameOf(v), func(t *testing.T) {
			args := []string{"lint", "--strict", chartDir}
			if v != "" {
				args = append(args, "-f", v)
			}
			out, err := exec.Command(helm, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			if bytes.Contains(out, []byte("[WARNING]")) || bytes.Contains(out, []byte("[ERROR]")) {
				t.Fatalf("helm lint --strict reports:\n%s", out)
			}
		})
	}
}

// TestKubeScore fails on any CRITICAL finding of kube-score on the rendered chart, and logs the counts.
func TestKubeScore(t *testing.T) {
	kubeScore := envOr("KUBE_SCORE", "kube-score")
	if _, err := exec.LookPath(kubeScore); err != nil {
		t.Fatal("kube-score is not installed: run scripts/setup-helm.sh")
	}
	for _, v := range valueFiles(t) {
		t.Run(nameOf(v), func(t *testing.T) {
			var args []string
			if v != "" {
				args = []string{"-f", v}
			}
			manifest, err := helmTemplate(t, args...)
			if err != nil {
				t.Fatalf("helm template: %v\n%s", err, manifest)
			}
			cmdArgs := []string{"score", "--output-format", "ci"}
			for _, ig := range kubeScoreIgnored {
				cmdArgs = append(cmdArgs, "--ignore-test", ig)
			}
			cmd := exec.Command(kubeScore, append(cmdArgs, "-")...)
			cmd.Stdin = strings.NewReader(manifest)
			out, _ := cmd.Output() // exits non-zero whenever it finds anything; the lines say what
			var critical, warning int
			for _, l := range strings.Split(string(out), "\n") {
				switch {
				case strings.HasPrefix(l, "[CRITICAL]"):
					critical++
					t.Error(l)
				case strings.HasPrefix(l, "[WARNING]"):
					warning++
				}
			}
			if len(out) == 0 {
				t.Fatal("kube-score printed nothing")
			}
			t.Logf("kube-score %s: %d critical, %d warning", nameOf(v), critical, warning)
		})
	}
}

func nameOf(valuesFile string) string {
	if valuesFile == "" {
		return "default"
	}
	return strings.TrimSuffix(strings.TrimPrefix(filepath.Base(valuesFile), "values-"), ".yaml")
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

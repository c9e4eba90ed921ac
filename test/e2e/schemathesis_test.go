package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/connectedbbq/platform/dev/stack"
)

// schemathesis generates requests from the OpenAPI document (valid, invalid and hostile ones) and
// checks that the API never fails with a 5xx, answers only documented statuses and content
// types, matches its schemas, and refuses requests without the token.
func TestAPIAgainstItsOpenAPIDocument(t *testing.T) {
	bin := filepath.Join(cacheDir(), "venv-schemathesis", "bin", "schemathesis")
	if _, err := os.Stat(bin); err != nil {
		t.Skip("schemathesis is not installed: run scripts/setup-schemathesis.sh (CI does)")
	}
	root, err := stack.Root()
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, nil)
	tenant := e.activate("sam", "sam@example.com")
	e.activate("other", "other@elsewhere.example")
	token := e.issuer.Token(t, e.issuer.Defaults("sam", tenant))
	cmd := exec.Command(bin, "run", filepath.Join(root, "services/user-service/api/openapi.yaml"),
		"--url", e.p.UserServiceURL, "--header", "Authorization: Bearer "+token,
		"--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,ignored_auth",
		"--max-examples", "60", "--workers", "1", "--seed", "1", "--suppress-health-check", "all")
	cmd.Env = append(os.Environ(), "SCHEMATHESIS_HOOKS=", "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("schemathesis found problems: %v\n%s", err, lastBytes(out, 6000))
	}
	t.Logf("schemathesis:\n%s", lastBytes(out, 1500))
	if n := e.scalar(`SELECT count(*) FROM users WHERE id = 'other' AND name <> 'Pat Griller'`); n != 0 {
		t.Fatal("a generated request changed another user's row")
	}
}

func cacheDir() string {
	if d := os.Getenv("BBQ_CACHE"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "connected-bbq")
}

func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

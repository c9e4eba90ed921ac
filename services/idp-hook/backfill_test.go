package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectedbbq/platform/pkg/events"
	"github.com/connectedbbq/platform/pkg/keycloak"
	"github.com/connectedbbq/platform/pkg/webhook"
	"github.com/connectedbbq/platform/testing/kctest"
	"github.com/connectedbbq/platform/testing/natstest"
)

var kc *kctest.Keycloak

func TestMain(m *testing.M) { os.Exit(kctest.Main(m, &kc)) }

// Backfill of N users (a real Keycloak, created by partial import; a real JetStream) publishes exactly N
// registrations; a second run publishes nothing new. BBQ_BACKFILL_USERS sets N (default 1000); the rates are
// logged beside the raw JetStream publish rate of the same run (see docs/benchmarks.md).
func TestBackfillPublishesEachUserOnce(t *testing.T) {
	n := envInt(t, "BBQ_BACKFILL_USERS", 1000)
	e := newBackfillEnv(t, n)
	linked := e.linkSome(t, 3)
	for run := 1; run <= 2; run++ {
		start := time.Now()
		cmd := exec.Command(e.bin, "backfill")
		out, err := e.run(cmd)
		if err != nil {
			t.Fatalf("backfill run %d: %v\n%s", run, err, out)
		}
		took := time.Since(start)
		if bytes.Contains(out, []byte("cannot list the identity providers")) {
			t.Fatalf("run %d read every user whole:\n%s", run, out)
		}
		got := e.registrations(t)
		if len(got) != n {
			t.Fatalf("run %d: %d users registered on the bus, want %d\n%s", run, len(got), n, out)
		}
		// No RSS here: the rusage of an exec'd child counts this process's memory from before the exec (the
		// bench measures the command's own, test/bench/backfill.go).
		t.Logf("backfill run %d: %d users in %s: %.0f users/s (%s)", run, n, took.Round(time.Millisecond),
			float64(n)/took.Seconds(), lastLine(out))
	}
	e.exactlyOnce(t)
	for _, m := range natstest.StreamMessages(t, e.bus.JS, e.bus.Config.Stream, events.UserRegistered.Subject) {
		id := strings.TrimPrefix(m.Header.Get(jetstream.MsgIDHeader), "backfill-")
		if has := bytes.Contains(m.Data, []byte(`"github"`)); has != linked[id] {
			t.Errorf("user %s: registration mentions the github link: %v, want %v", id, has, linked[id])
		}
	}
	raw := rawPublishRate(t, e.bus, n)
	t.Logf("raw JetStream async publish, same run: %.0f msgs/s", raw)
}

// A backfill killed (SIGKILL) mid-run resumes from its checkpoint: every user is registered exactly once and
// the second run does not start over.
func TestBackfillResumesAfterKill(t *testing.T) {
	const n = 3000
	e := newBackfillEnv(t, n)
	cmd := exec.Command(e.bin, "backfill", "-page", "100", "-readers", "1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = e.env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e.waitCheckpoint(t, 500)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	before := len(e.registrations(t))
	if before == 0 || before >= n {
		t.Fatalf("killed run registered %d of %d users; want a partial run", before, n)
	}
	res, err := e.run(exec.Command(e.bin, "backfill", "-page", "100"))
	if err != nil {
		t.Fatalf("resumed backfill: %v\n%s", err, res)
	}
	if published := donePublished(t, res); published >= n {
		t.Errorf("the second run published %d registrations: it started over\n%s", published, res)
	}
	if got := len(e.registrations(t)); got != n {
		t.Fatalf("%d users registered, want %d", got, n)
	}
	e.exactlyOnce(t)
	t.Logf("killed after %d registrations; resumed: %s", before, lastLine(res))
}

type backfillEnv struct {
	bus   *natstest.Bus
	realm *kctest.Realm
	bin   string
	env   []string
}

func newBackfillEnv(t *testing.T, users int) *backfillEnv {
	t.Helper()
	b := natstest.New(t)
	r := kctest.NewRealm(t, kc, kctest.Options{})
	e := &backfillEnv{bus: b, realm: r, bin: idpHookBinary(t)}
	e.env = []string{"NATS_URL=" + b.URL, "WEBHOOK_SECRETS=" + webhook.FormatSecret([]byte("backfill-test-secret-0123456789ab")),
		"KEYCLOAK_URL=" + kc.URL, "KEYCLOAK_REALM=" + r.Name, "KEYCLOAK_CLIENT_SECRET=" + r.Secrets["idp-hook"],
		"LOG_LEVEL=warn"}
	start := time.Now()
	importUsers(t, r, users)
	t.Logf("imported %d users in %s", users, time.Since(start).Round(time.Millisecond))
	return e
}

func (e *backfillEnv) run(cmd *exec.Cmd) ([]byte, error) {
	cmd.Env = e.env
	return cmd.CombinedOutput()
}

// registrations counts the bus's UserRegistered messages per Nats-Msg-Id.
func (e *backfillEnv) registrations(t *testing.T) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, m := range natstest.StreamMessages(t, e.bus.JS, e.bus.Config.Stream, events.UserRegistered.Subject) {
		got[m.Header.Get(jetstream.MsgIDHeader)]++
	}
	return got
}

func (e *backfillEnv) exactlyOnce(t *testing.T) {
	t.Helper()
	for id, c := range e.registrations(t) {
		if c != 1 {
			t.Errorf("%s: %d messages, want 1", id, c)
		}
	}
}

// linkSome adds the identity provider github to the realm and links n users to it.
func (e *backfillEnv) linkSome(t *testing.T, n int) map[string]bool {
	t.Helper()
	ctx := context.Background()
	base := "/admin/realms/" + e.realm.Name
	idp := map[string]any{"alias": "github", "providerId": "github", "enabled": true,
		"config": map[string]any{"clientId": "backfill-test", "clientSecret": "unused"}}
	if err := kc.AdminRequest(ctx, "POST", base+"/identity-provider/instances", idp, nil); err != nil {
		t.Fatal(err)
	}
	users, err := e.realm.Admin(t).ListUsers(ctx, 0, n)
	if err != nil {
		t.Fatal(err)
	}
	linked := map[string]bool{}
	for _, u := range users {
		link := map[string]any{"identityProvider": "github", "userId": "gh-" + u.ID, "userName": "gh-" + u.Username}
		if err := kc.AdminRequest(ctx, "POST", base+"/users/"+u.ID+"/federated-identity/github", link, nil); err != nil {
			t.Fatal(err)
		}
		linked[u.ID] = true
	}
	return linked
}

// waitCheckpoint waits until the running backfill has checkpointed at least next users.
func (e *backfillEnv) waitCheckpoint(t *testing.T, next int) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if kv, err := e.bus.JS.KeyValue(ctx, "idp-hook"); err == nil {
			if v, err := kv.Get(ctx, "backfill."+e.realm.Name); err == nil {
				var cp struct{ Next int }
				if json.Unmarshal(v.Value(), &cp) == nil && cp.Next >= next {
					return
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no backfill checkpoint at %d users within 2m", next)
}

// importUsers creates n users with Keycloak's partial import.
func importUsers(t *testing.T, r *kctest.Realm, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	users := make([]keycloak.User, n)
	for i := range users {
		email := fmt.Sprintf("existing%07d@example.com", i)
		users[i] = keycloak.User{Username: email, Email: email, Enabled: true, EmailVerified: true, FirstName: "Existing", LastName: strconv.Itoa(i)}
	}
	if err := r.Admin(t).ImportUsers(ctx, users); err != nil {
		t.Fatal(err)
	}
}

// rawPublishRate publishes n messages of a registration's size to a stream of their own, asynchronously,
// and returns messages per second.
func rawPublishRate(t *testing.T, b *natstest.Bus, n int) float64 {
	t.Helper()
	ctx := context.Background()
	if _, err := b.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "RAW", Subjects: []string{"raw.>"}}); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 700)
	start := time.Now()
	for i := range n {
		msg := nats.NewMsg("raw.publish")
		msg.Data = body
		if _, err := b.JS.PublishMsgAsync(msg, jetstream.WithMsgID("raw-"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-b.JS.PublishAsyncComplete():
	case <-time.After(time.Minute):
		t.Fatal("raw publish did not complete")
	}
	return float64(n) / time.Since(start).Seconds()
}

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// idpHookBinary builds this command once per test binary (BBQ_IDPHOOK_BIN: use that one, e.g. an older build
// to compare).
func idpHookBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("BBQ_IDPHOOK_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "idp-hook-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(dir, "idp-hook")
		out, err := exec.Command("go", "build", "-o", buildBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return n
}

var (
	lineRE      = regexp.MustCompile(`backfill: [^\n]*\(done\)`)
	publishedRE = regexp.MustCompile(`published (\d+) .*\(done\)`)
)

// donePublished is how many registrations the final progress line says were published.
func donePublished(t *testing.T, out []byte) int {
	t.Helper()
	m := publishedRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no final progress line in\n%s", out)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

func lastLine(out []byte) string { return string(lineRE.Find(out)) }

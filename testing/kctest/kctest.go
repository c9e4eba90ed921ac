// Package kctest runs a real Keycloak for tests: one server per test binary (started from the cached
// distribution by deploy/keycloak/scripts/keycloak.sh, or reused from KCTEST_URL), a fresh realm per test made
// from the shipped realm JSON, an SMTP sink per realm, and a browser that signs people up through Keycloak's own
// registration form.
//
//	var kc *kctest.Keycloak
//
//	func TestMain(m *testing.M) { os.Exit(kctest.Main(m, &kc)) }
//
//	func TestX(t *testing.T) {
//		realm := kctest.NewRealm(t, kc, kctest.Options{WebhookURL: recv.URL, WebhookSecrets: recv.Secrets})
//		s := realm.SignUp(t, "ada@example.com", "Correct-Horse-9", "Ada")
//		tok := realm.FollowVerification(t, s)
//	}
package kctest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Environment read by Main.
const (
	EnvURL           = "KCTEST_URL"            // reuse this Keycloak (base URL incl. /auth) instead of starting one
	EnvAdminUser     = "KCTEST_ADMIN_USER"     // its master admin (default admin)
	EnvAdminPassword = "KCTEST_ADMIN_PASSWORD" // (default admin)
	EnvKeep          = "KCTEST_KEEP"           // keep realms and the server's directory after the tests
	EnvStartTimeout  = "KCTEST_START_TIMEOUT"  // how long to wait for start-up (default 6m)
	EnvJavaOpts      = "KCTEST_JAVA_OPTS"      // extra JVM options of the test server (JAVA_OPTS_APPEND)
)

// Keycloak is a running server.
type Keycloak struct {
	URL           string // base URL including /auth, e.g. http://127.0.0.1:41234/auth
	AdminUser     string
	AdminPassword string
	StartTime     time.Duration // how long the start took (0 when reused)
	// Tracing: Keycloak exports its own spans (Config.TracingEndpoint); false for a reused server.
	Tracing bool

	tokenMu     sync.Mutex // the master admin token, reused until shortly before it expires
	token       string
	tokenExpiry time.Time

	cmd     *exec.Cmd
	exited  chan struct{} // closed when the start script (and so java) has exited
	dir     string
	logPath string
}

// Config is what a test binary asks of the server it starts (a reused one is taken as it is).
type Config struct {
	// TracingEndpoint, when set, is the OTLP/HTTP (http/protobuf) endpoint Keycloak exports its spans to
	// (--tracing-enabled, a build of its own). Spans are exported every 200 ms rather than every 5 s.
	TracingEndpoint string
}

// Main starts Keycloak (or connects to KCTEST_URL), stores it in *kc, runs the tests and stops it. Use it
// from TestMain: os.Exit(kctest.Main(m, &kc)).
func Main(m *testing.M, kc **Keycloak) int { return MainWith(m, kc, Config{}) }

// MainWith is Main with a Config for the server it starts.
func MainWith(m *testing.M, kc **Keycloak, cfg Config) int {
	flag.Parse()
	k, err := StartWith(context.Background(), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kctest:", err)
		return 1
	}
	*kc = k
	defer k.Stop()
	return m.Run()
}

// Start returns a ready Keycloak: the one at KCTEST_URL, or a new one on free ports.
func Start(ctx context.Context) (*Keycloak, error) { return StartWith(ctx, Config{}) }

// StartWith is Start with a Config for a new server.
func StartWith(ctx context.Context, cfg Config) (*Keycloak, error) {
	if u := os.Getenv(EnvURL); u != "" {
		k := &Keycloak{URL: strings.TrimRight(u, "/"), AdminUser: envOr(EnvAdminUser, "admin"),
			AdminPassword: envOr(EnvAdminPassword, "admin")}
		return k, k.waitReady(ctx, 30*time.Second)
	}
	script, err := findScript()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "kctest-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	mgmt, err := freePort()
	if err != nil {
		return nil, err
	}
	k := &Keycloak{URL: fmt.Sprintf("http://127.0.0.1:%d/auth", port), AdminUser: "kctest-admin",
		AdminPassword: randomToken(18), dir: dir, logPath: filepath.Join(dir, "keycloak.log")}
	logf, err := os.Create(k.logPath)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	defer logf.Close()
	// Fetch and build (augment) first, outside the start-up timeout: on a fresh machine this downloads the
	// distribution and runs Maven; later it is a checksum and a no-op.
	build := exec.CommandContext(ctx, "bash", script, "build")
	// Tracing is a build option (keycloak.sh keeps a built home per value). No span per SQL statement: a
	// suite's thousands of admin calls would export tens of thousands.
	build.Env = append(environWithout("KC_TRACING_"), "KC_TRACING_ENABLED="+strconv.FormatBool(cfg.TracingEndpoint != ""),
		"KC_TRACING_JDBC_ENABLED=false")
	build.Stdout, build.Stderr = logf, logf
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("%s build: %w\n%s", script, err, k.LogTail(40))
	}
	cmd := exec.Command("bash", script, "start")
	cmd.Env = append(environWithout("KC_", "BBQ_WEBHOOK_", "KCTEST_"),
		"KC_PORT="+strconv.Itoa(port),
		"KC_MANAGEMENT_PORT="+strconv.Itoa(mgmt),
		"KC_INSTANCE_DIR="+filepath.Join(dir, "home"),
		"KC_IMPORT_REALM=false", // each test makes its own realm
		"KC_WATCH_PID="+strconv.Itoa(os.Getpid()),
		"KC_BOOTSTRAP_ADMIN_USERNAME="+k.AdminUser,
		"KC_BOOTSTRAP_ADMIN_PASSWORD="+k.AdminPassword,
		// Realms set their own receivers; retries are quicker than in production so tests stay short.
		"BBQ_WEBHOOK_BASE_DELAY_MS=200", "BBQ_WEBHOOK_MAX_DELAY_MS=5000", "BBQ_WEBHOOK_TIMEOUT_MS=3000",
		// Extra JVM options. -XX:TieredStopAtLevel=1 halved start-up on 2 busy cores (33 s vs 67 s) but made the
		// tests over twice as slow (73 s vs 32 s), so none by default.
		"JAVA_OPTS_APPEND="+strings.TrimSpace(os.Getenv(EnvJavaOpts)+" "+cfg.javaOpts()),
	)
	cmd.Env = append(cmd.Env, cfg.tracingEnv()...)
	k.Tracing = cfg.TracingEndpoint != ""
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group so Stop reaches java; Pdeathsig so a killed test binary leaves no server behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", script, err)
	}
	k.cmd = cmd
	k.exited = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(k.exited)
	}()
	timeout := 6 * time.Minute // two servers starting at once on 2 busy cores took up to 90 s; leave room
	if d, err := time.ParseDuration(os.Getenv(EnvStartTimeout)); err == nil {
		timeout = d
	}
	readyCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-k.exited:
			cancel()
		case <-readyCtx.Done():
		}
	}()
	if err := k.waitReady(readyCtx, timeout); err != nil {
		k.Stop()
		return nil, fmt.Errorf("keycloak did not become ready: %w\n%s", err, k.LogTail(60))
	}
	k.StartTime = time.Since(t0)
	fmt.Fprintf(os.Stderr, "kctest: Keycloak ready at %s in %s (log %s)\n", k.URL, k.StartTime.Round(time.Millisecond),
		k.logPath)
	return k, nil
}

// tracingEnv is Keycloak's tracing options.
func (c Config) tracingEnv() []string {
	if c.TracingEndpoint == "" {
		return nil
	}
	return []string{"KC_TRACING_ENABLED=true", "KC_TRACING_ENDPOINT=" + c.TracingEndpoint, "KC_TRACING_PROTOCOL=http/protobuf"}
}

// javaOpts makes Quarkus's batch span processor export promptly, so a test reads a whole trace in seconds.
func (c Config) javaOpts() string {
	if c.TracingEndpoint == "" {
		return ""
	}
	return "-Dquarkus.otel.bsp.schedule.delay=200ms"
}

// Pid is the process (kc.sh, with java below it) of a server this process started; 0 for a reused one
// (KCTEST_URL).
func (k *Keycloak) Pid() int {
	if k.cmd == nil || k.cmd.Process == nil {
		return 0
	}
	return k.cmd.Process.Pid
}

// Stop ends a server this process started (SIGTERM, then SIGKILL after 20 s) and removes its directory. If the
// test binary dies without calling it, keycloak.sh's watchdog (KC_WATCH_PID) stops Keycloak within seconds.
func (k *Keycloak) Stop() {
	if k.cmd == nil || k.cmd.Process == nil {
		return
	}
	pgid := k.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-k.exited: // kc.sh waits for java, so java is gone too
	case <-time.After(20 * time.Second):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // and the watchdog of keycloak.sh, if any
	if os.Getenv(EnvKeep) == "" {
		_ = os.RemoveAll(k.dir)
	}
}

// LogTail returns the last n lines of the server's log (empty for a reused server).
func (k *Keycloak) LogTail(n int) string {
	if k.logPath == "" {
		return ""
	}
	b, err := os.ReadFile(k.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// LogContains reports whether the server's log has s (for a server started here).
func (k *Keycloak) LogContains(s string) bool {
	b, err := os.ReadFile(k.logPath)
	return err == nil && strings.Contains(string(b), s)
}

// HasLog says whether the server's log can be read: only for a server started here, not a reused one.
func (k *Keycloak) HasLog() bool { return k.logPath != "" }

// LogCount counts the server's log lines that have every one of parts (for a server started here).
func (k *Keycloak) LogCount(parts ...string) int {
	b, err := os.ReadFile(k.logPath)
	if err != nil {
		return 0
	}
	n := 0
	for line := range strings.SplitSeq(string(b), "\n") {
		if containsAll(line, parts) {
			n++
		}
	}
	return n
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

func (k *Keycloak) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := &http.Client{Timeout: 5 * time.Second}
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, k.URL+"/realms/master", nil)
		resp, err := c.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		last = err
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// findScript walks up from the working directory to the repository's keycloak.sh.
func findScript() (string, error) {
	if s := os.Getenv("KCTEST_SCRIPT"); s != "" {
		return s, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("getwd: %w", err)
	}
	for {
		p := filepath.Join(dir, "deploy", "keycloak", "scripts", "keycloak.sh")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("kctest: deploy/keycloak/scripts/keycloak.sh not found above the working directory")
		}
		dir = parent
	}
}

// RepoRoot is the directory holding deploy/keycloak (for fixtures and the realm JSON).
func RepoRoot() (string, error) {
	s, err := findScript()
	if err != nil {
		return "", err
	}
	return filepath.Abs(filepath.Join(filepath.Dir(s), "..", "..", ".."))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

// environWithout is the process environment minus variables with these prefixes: Keycloak reads every KC_*
// variable as configuration, and a developer's own settings must not leak into the test server.
func environWithout(prefixes ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		keep := true
		for _, p := range prefixes {
			if strings.HasPrefix(kv, p) {
				keep = false
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}

// Package faults streams sign-ups through the real pipeline while its parts crash and restart and its
// network paths to NATS and Postgres are cut, then checks from Postgres and from the bus that every user is
// active exactly once, with exactly one UserCreated, and that nothing was dead-lettered. Each service runs on
// its own network namespace, so the suite needs root, iproute2 and iptables. BBQ_FAULT_USERS sets N
// (make test-faults: 2,000; make test: 300).
package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectedbbq/platform/dev/stack"
	"github.com/connectedbbq/platform/pkg/bus"
	"github.com/connectedbbq/platform/pkg/events"
	"github.com/connectedbbq/platform/pkg/webhook"
	"github.com/connectedbbq/platform/test/internal/pipelinetest"
	"github.com/connectedbbq/platform/testing/embedded"
	"github.com/connectedbbq/platform/testing/natstest"
	"github.com/connectedbbq/platform/testing/pgtest"
)

var secretKey = []byte("faults-webhook-secret-0123456789abcdef")

// system is the pipeline with its own NATS and Postgres, which the test crashes and restarts.
type system struct {
	t      *testing.T
	nats   *stack.Process // a nats-server process: the suite kills it
	js     jetstream.JetStream
	pgDir  string
	pgPort int
	pgNet  netip.Prefix
	pg     *embedded.Postgres
	p      *stack.Pipeline
	// Each service's paths to NATS and Postgres, which a fault can cut.
	hookNATS, usNATS, usPostgres *path
	// Passwords of the NATS users (embedded.BusUsers): the services run with least privilege, as in the chart.
	natsPasswords map[string]string
}

func TestNothingLostOrDuplicatedUnderFaults(t *testing.T) {
	n := faultUsers(t)
	s := start(t)
	faults := []struct {
		name string
		do   func()
	}{
		{"kill -9 user-service", func() { s.p.UserService.Kill(); time.Sleep(time.Second); s.restart(s.p.UserService) }},
		{"kill -9 idp-hook", func() { s.p.IdPHook.Kill(); time.Sleep(time.Second); s.restart(s.p.IdPHook) }},
		{"kill -9 NATS", func() { s.nats.Kill(); time.Sleep(time.Second); s.restart(s.nats) }},
		{"kill -9 Postgres", func() { s.pg.Kill(); time.Sleep(time.Second); s.startPostgres() }},
		{"kill -9 user-service and Postgres at once", func() {
			s.p.UserService.Kill()
			s.pg.Kill()
			time.Sleep(time.Second)
			s.startPostgres()
			s.restart(s.p.UserService)
		}},
		{"kill -9 idp-hook and NATS at once", func() {
			s.p.IdPHook.Kill()
			s.nats.Kill()
			time.Sleep(time.Second)
			s.restart(s.nats)
			s.restart(s.p.IdPHook)
		}},
		{"partition idp-hook from NATS for 5 s", func() { partition(s.hookNATS, 5*time.Second) }},
		{"partition user-service from NATS for 5 s", func() { partition(s.usNATS, 5*time.Second) }},
		{"partition user-service from Postgres for 5 s", func() { partition(s.usPostgres, 5*time.Second) }},
		{"partition user-service from NATS and Postgres for 5 s", func() {
			s.usNATS.cut()
			partition(s.usPostgres, 5*time.Second)
			s.usNATS.heal()
		}},
	}

	var sent atomic.Int64
	var failed attempts
	begin := time.Now()
	var wg sync.WaitGroup
	jobs := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range jobs {
				user, email := fmt.Sprintf("f%05d", i), fmt.Sprintf("f%05d@example.com", i)
				s.deliver("REGISTER", user, email, &failed)
				s.deliver("VERIFY_EMAIL", user, email, &failed)
				sent.Add(1)
			}
		})
	}
	// The stream is paced to last about 45 s whatever N is; the faults follow one another from a tenth of
	// it on, and each must end while users are still being sent, so that every one meets traffic.
	injected := make(chan string, len(faults))
	go func() {
		defer close(injected)
		for sent.Load() < int64(n/10) {
			time.Sleep(10 * time.Millisecond)
		}
		for _, f := range faults {
			at := sent.Load()
			f.do()
			t.Logf("%s: from %d to %d users sent; failed webhook attempts so far %s", f.name, at, sent.Load(), &failed)
			if sent.Load() == int64(n) {
				t.Errorf("the stream ended before %q did: it met no traffic", f.name)
			}
			injected <- f.name
			time.Sleep(time.Second)
		}
	}()
	feed(jobs, n, 45*time.Second)
	wg.Wait()
	var names []string
	for name := range injected {
		names = append(names, name)
	}
	sentAt := time.Since(begin)

	created := func() map[string]int {
		out := map[string]int{}
		for _, m := range natstest.StreamMessages(t, s.js, natstest.Config().Stream, events.UserCreated.Subject) {
			d, err := events.Decode(m.Data)
			if err != nil {
				t.Fatal(err)
			}
			out[d.Event.Subject()]++
		}
		return out
	}
	deadline := time.Now().Add(3 * time.Minute)
	for len(created()) < n && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	converged := time.Since(begin)
	time.Sleep(2 * time.Second) // late duplicates would show now

	got := created()
	lost, dup := n-len(got), 0
	for _, c := range got {
		dup += c - 1
	}
	active := s.scalar(`SELECT count(*) FROM users WHERE status = 'active'`)
	dead := len(natstest.StreamMessages(t, s.js, natstest.Config().DeadLetterStream, ""))
	summary := fmt.Sprintf("faults: N=%d users, faults injected %d (%v; partitions: packets dropped between network namespaces), failed webhook attempts retried %s, all sent after %s, converged after %s; "+
		"lost %d, duplicated UserCreated %d, active users %d, dead letters %d",
		n, len(names), names, failed.String(), sentAt.Round(time.Millisecond), converged.Round(time.Millisecond), lost, dup, active, dead)
	t.Log(summary)
	fmt.Println(summary)
	if len(names) != len(faults) || lost != 0 || dup != 0 || active != n || dead != 0 {
		t.Fatal("the system lost, duplicated or dead-lettered events under faults")
	}
}

// feed hands the senders users 0..n-1, evenly over d, then closes jobs.
func feed(jobs chan<- int, n int, d time.Duration) {
	ended := make(chan struct{})
	close(ended)
	feedUntil(jobs, n, d, ended)
}

// feedUntil is feed, going on at the same pace past n until done is closed (4n users at most); it returns the
// users sent.
func feedUntil(jobs chan<- int, n int, d time.Duration, done <-chan struct{}) int {
	defer close(jobs)
	pace := d / time.Duration(n)
	for i := range 4 * n {
		if i >= n {
			select {
			case <-done:
				return i
			default:
			}
		}
		time.Sleep(pace)
		jobs <- i
	}
	return 4 * n
}

// faultUsers is N, the sign-ups a fault run streams (BBQ_FAULT_USERS; 300 by default).
func faultUsers(t *testing.T) int {
	n := 300
	if v := os.Getenv("BBQ_FAULT_USERS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatalf("BBQ_FAULT_USERS: %v", err)
		}
	}
	return n
}

func start(t *testing.T) *system {
	t.Helper()
	// Postgres runs as its own user when the tests run as root: the folder must be reachable.
	dir, err := os.MkdirTemp("", "faults-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bins, err := stack.Build(ctx, filepath.Join(dir, "bin"), "idp-hook", "user-service", "nats-server")
	if err != nil {
		t.Fatal(err)
	}
	s := &system{t: t, pgDir: filepath.Join(dir, "pg")}
	cfg := stack.PipelineConfig{Bins: bins, Dir: dir, OIDCIssuer: "http://127.0.0.1:1/realms/faults",
		WebhookSecrets: webhook.FormatSecret(secretKey), AdminToken: "faults-admin-token-0123456789",
		UserServiceEnv: map[string]string{"CONSUMER_ACK_WAIT": "3s"},
		// Shorter than a partition, so the sender meets 503s, as Keycloak's listener would.
		IdPHookEnv: map[string]string{"PUBLISH_TIMEOUT": "2s", "RETRY_AFTER": "1s"}}
	s.onHosts(ctx, &cfg, bins["nats-server"], dir)
	t.Cleanup(func() { _ = s.pg.Stop() })
	cfg.NATSURL = "nats://" + s.usNATS.addr()
	cfg.IdPHookEnv["NATS_URL"] = "nats://" + s.hookNATS.addr()
	pgURL, err := url.Parse(s.pg.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	pgURL.Host = s.usPostgres.addr()
	cfg.DatabaseURL = pgURL.String()
	cfg.ServiceDatabaseURL = pgtest.WithUser(cfg.DatabaseURL, "user_service", "faults")
	cfg.APIDatabaseURL = pgtest.WithUser(cfg.DatabaseURL, "user_service_api", "faults")
	cfg.IdPHookNATS = bus.Credentials{User: embedded.UserIdPHook, Password: s.natsPasswords[embedded.UserIdPHook]}
	cfg.UserServiceNATS = bus.Credentials{User: embedded.UserUserService, Password: s.natsPasswords[embedded.UserUserService]}
	if s.p, err = stack.StartPipeline(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.p.Stop()
		if t.Failed() {
			logServiceTails(t, dir, "")
		}
	})
	return s
}

// onHosts runs each service on its own host, a network namespace, and NATS and Postgres on the machine's
// side of the LAN, so that a partition is real: the kernel drops the packets.
func (s *system) onHosts(ctx context.Context, cfg *stack.PipelineConfig, natsBin, dir string) {
	t := s.t
	lan, err := stack.NewNetwork(ctx, "bbq-faults", netip.MustParsePrefix("10.213.0.1/24"))
	if err != nil {
		t.Fatalf("network namespaces (root, iproute2 and iptables needed): %v", err)
	}
	t.Cleanup(func() {
		if err := lan.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	hook, err := lan.AddHost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	us, err := lan.AddHost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	natsAddr := s.startNATS(ctx, natsBin, dir, lan.Addr())
	s.pgNet = lan.Prefix()
	if !s.startPostgres() {
		t.FailNow()
	}
	pgAddr := netip.AddrPortFrom(lan.Addr(), uint16(s.pgPort))
	s.hookNATS = &path{t: t, host: hook, target: natsAddr}
	s.usNATS = &path{t: t, host: us, target: natsAddr}
	s.usPostgres = &path{t: t, host: us, target: pgAddr}
	cfg.IdPHookNetns, cfg.UserServiceNetns = hook.Netns, us.Netns
	cfg.HookAddr = netip.AddrPortFrom(hook.IP, 8080).String()
	cfg.APIAddr = netip.AddrPortFrom(us.IP, 8080).String()
	cfg.AdminAddr = netip.AddrPortFrom(us.IP, 8081).String()
	cfg.HookOpsAddr = netip.AddrPortFrom(hook.IP, 9090).String()
	cfg.UserServiceOpsAddr = netip.AddrPortFrom(us.IP, 9090).String()
}

// path is a service's network path, from its host to a dependency on the LAN.
type path struct {
	t      *testing.T
	host   *stack.Host
	target netip.AddrPort
}

func (p *path) addr() string { return p.target.String() }
func (p *path) cut()         { p.do(p.host.Cut) }
func (p *path) heal()        { p.do(p.host.Heal) }

func (p *path) do(f func(context.Context, netip.AddrPort) error) {
	if err := f(context.Background(), p.target); err != nil {
		p.t.Error(err) // not Fatal: this runs on the fault goroutine
	}
}

// partition cuts a path for d, then heals it.
func partition(p *path, d time.Duration) {
	p.cut()
	time.Sleep(d)
	p.heal()
}

// startNATS runs nats-server as its own process on ip, with its data in dir, creates the bus streams, and
// connects the suite's own client (which reconnects through the crashes). It returns the client address.
func (s *system) startNATS(ctx context.Context, bin, dir string, ip netip.Addr) netip.AddrPort {
	t := s.t
	client, monitor := freePort(t, ip), freePort(t, ip)
	s.natsPasswords = map[string]string{}
	for _, u := range []string{embedded.UserIdPHook, embedded.UserUserService, embedded.UserReader, embedded.UserAdmin} {
		s.natsPasswords[u] = "faults-" + u
	}
	conf := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(conf, []byte(embedded.NATSConfigFile(embedded.BusUsers(embedded.DefaultBusNames(), s.natsPasswords))), 0o600); err != nil {
		t.Fatal(err)
	}
	s.nats = &stack.Process{Name: "nats-server", Bin: bin, LogPath: filepath.Join(dir, "nats.log"),
		Args: []string{"-c", conf, "-js", "-sd", filepath.Join(dir, "nats"), "-a", ip.String(), "-p", fmt.Sprint(client.Port()),
			"-m", fmt.Sprint(monitor.Port())},
		Ready: "http://" + monitor.String() + "/healthz?js-enabled-only=true"}
	if err := s.nats.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.nats.Stop(10 * time.Second) })
	admin := bus.Credentials{User: embedded.UserAdmin, Password: s.natsPasswords[embedded.UserAdmin]}
	nc, err := nats.Connect("nats://"+client.String(), append(admin.Options(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if s.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	if err := bus.Ensure(ctx, s.js, natstest.Config()); err != nil {
		t.Fatal(err)
	}
	return client
}

// freePort finds a port free on ip.
func freePort(t *testing.T, ip netip.Addr) netip.AddrPort {
	ln, err := net.Listen("tcp", netip.AddrPortFrom(ip, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return netip.MustParseAddrPort(ln.Addr().String())
}

// startPostgres starts (or restarts, after a crash) the system's Postgres on its directory and port.
// It reports failure with Error, not Fatal: faults run on their own goroutine.
func (s *system) startPostgres() bool {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pg, err := embedded.StartPostgres(ctx, embedded.PostgresConfig{Dir: s.pgDir, Port: s.pgPort, Network: s.pgNet})
	if err != nil {
		s.t.Errorf("start Postgres: %v", err)
		return false
	}
	s.pg, s.pgPort = pg, pg.Port()
	return true
}

// restart starts a killed process again, reporting failure with Error (see startPostgres).
func (s *system) restart(p *stack.Process) {
	s.t.Helper()
	if err := restart(p); err != nil {
		s.t.Error(err)
	}
}

func restart(p *stack.Process) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		return fmt.Errorf("restart %s: %w", p.Name, err)
	}
	return nil
}

// logServiceTails logs the end of the services' logs in dir, after a failure: their last lines, and their last
// warnings and errors other than the retries every fault causes by the hundred (a write-back waiting for its
// organization, an event the reconciler found), which otherwise fill the whole tail.
func logServiceTails(t *testing.T, dir, label string) {
	for _, f := range []string{"idp-hook.log", "user-service.log"} {
		path := filepath.Join(dir, f)
		t.Logf("--- %s%s\n%s\n--- its warnings and errors, routine retries left out\n%s", label, f, tailFile(path, 3000), notableTail(path, 6000))
	}
}

// notableTail is the end of the WARN and ERROR lines of a JSON log, without the routine retries.
func notableTail(path string, n int) string {
	b, _ := os.ReadFile(path)
	var keep []string
	for _, line := range strings.Split(string(b), "\n") {
		if (strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`)) &&
			!strings.Contains(line, `"msg":"organization write-back failed; will retry"`) &&
			!strings.Contains(line, `"msg":"published an event the webhook had missed"`) {
			keep = append(keep, line)
		}
	}
	out := strings.Join(keep, "\n")
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

// attempts counts the webhook attempts idp-hook did not accept, by what the sender saw.
type attempts struct{ unavailable, unreachable, other atomic.Int64 }

func (a *attempts) String() string {
	u, r, o := a.unavailable.Load(), a.unreachable.Load(), a.other.Load()
	return fmt.Sprintf("%d (503 %d, unreachable %d, other %d)", u+r+o, u, r, o)
}

// deliver sends one signed event until idp-hook accepts it, with back-off, as Keycloak's provider does.
func (s *system) deliver(typ, user, email string, failed *attempts) {
	send([]string{s.p.IdPHookURL}, typ, user, keycloakEvent(typ, user, email), failed)
}

// keycloakEvent is the body of one Keycloak event about user, as a provider older than 0.3 sends it (no
// state: the fields of the event only).
func keycloakEvent(typ, user, email string) []byte {
	return providerEvent(typ, user, email, false)
}

// providerEvent is keycloakEvent, with the account's state after the event (bbqUser) when withState, as the
// current provider sends it.
func providerEvent(typ, user, email string, withState bool) []byte {
	details := map[string]string{"email": email}
	switch typ {
	case "REGISTER":
		details = map[string]string{"register_method": "form", "username": email, "email": email, "first_name": "Fault"}
	case "UPDATE_PROFILE":
		details = map[string]string{"previous_first_name": "Fault", "updated_first_name": "Second"}
	}
	ev := map[string]any{"id": typ + "-" + user, "time": time.Now().UnixMilli(), "type": typ,
		"realmId": "bbq", "clientId": "dashboard", "userId": user, "details": details}
	if withState {
		name := map[bool]string{false: "Fault", true: "Second"}[typ == "UPDATE_PROFILE"]
		ev["bbqUser"] = map[string]any{"id": user, "username": email, "email": email, "emailVerified": typ != "REGISTER",
			"firstName": name, "enabled": true}
	}
	body, _ := json.Marshal(ev)
	return body
}

// send posts a signed event until one of the receivers (a load balancer's choice: the next on each failure)
// accepts it, with back-off.
func send(receivers []string, typ, user string, body []byte, failed *attempts) {
	next := int(crc32.ChecksumIEEE([]byte(user)) % uint32(len(receivers)))
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		status, err := pipelinetest.PostWebhook(receivers[next]+"/webhooks/keycloak/events", secretKey, "wh-"+typ+"-"+user, body)
		switch {
		case err != nil:
			failed.unreachable.Add(1)
		case status == http.StatusAccepted:
			return
		case status == http.StatusServiceUnavailable:
			failed.unavailable.Add(1)
		default:
			failed.other.Add(1)
		}
		next = (next + 1) % len(receivers)
		time.Sleep(wait)
	}
}

func (s *system) scalar(sql string) int {
	s.t.Helper()
	return scalarIn(s.t, s.pg, sql)
}

// scalarIn runs a query of one number in pg.
func scalarIn(t *testing.T, pg *embedded.Postgres, sql string) int {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), pg.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var n int
	if err := pool.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

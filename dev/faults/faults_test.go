// Package faults streams sign-ups through the real pipeline while its parts crash and restart and its
// network paths to NATS and Postgres are cut, then checks from Postgres and from the bus that every user is active exactly once, with exactly
// one UserCreated, and that nothing was dead-lettered. BBQ_FAULT_USERS sets N (make test-faults:
// 2,000; make test: 300).
package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/connectedbbq/platform/dev/stack"
	"github.com/connectedbbq/platform/pkg/embedded"
	"github.com/connectedbbq/platform/pkg/events"
	"github.com/connectedbbq/platform/pkg/natstest"
	"github.com/connectedbbq/platform/pkg/webhook"
)

var secretKey = []byte("faults-webhook-secret-0123456789abcdef")

// system is the pipeline with its own NATS and Postgres, which the test crashes and restarts.
type system struct {
	t        *testing.T
	natsDir  string
	natsPort int
	bus      *natstest.Bus
	pgDir    string
	pgPort   int
	pg       *embedded.Postgres
	p        *stack.Pipeline
	cfg      stack.PipelineConfig
	// Each service reaches NATS and Postgres through its own link, which a fault can cut.
	hookNATS, usNATS, usPostgres *stack.Link
}

func TestNothingLostOrDuplicatedUnderFaults(t *testing.T) {
	n := 300
	if v := os.Getenv("BBQ_FAULT_USERS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatalf("BBQ_FAULT_USERS: %v", err)
		}
	}
	s := start(t)
	faults := []struct {
		name string
		do   func()
	}{
		{"kill -9 user-service", func() { s.p.UserService.Kill(); time.Sleep(time.Second); s.restart(s.p.UserService) }},
		{"kill -9 idp-hook", func() { s.p.IdPHook.Kill(); time.Sleep(time.Second); s.restart(s.p.IdPHook) }},
		{"restart NATS", func() {
			s.bus.Server.Shutdown()
			s.bus.Server.WaitForShutdown()
			time.Sleep(time.Second)
			s.bus = natstest.NewAt(t, s.natsDir, s.natsPort)
		}},
		{"kill -9 Postgres", func() { s.pg.Kill(); time.Sleep(time.Second); s.startPostgres() }},
		{"kill -9 user-service and Postgres at once", func() {
			s.p.UserService.Kill()
			s.pg.Kill()
			time.Sleep(time.Second)
			s.startPostgres()
			s.restart(s.p.UserService)
		}},
		{"partition idp-hook from NATS for 5 s", func() { partition(s.hookNATS, 5*time.Second) }},
		{"partition user-service from NATS for 5 s", func() { partition(s.usNATS, 5*time.Second) }},
		{"partition user-service from Postgres for 5 s", func() { partition(s.usPostgres, 5*time.Second) }},
		{"partition user-service from NATS and Postgres for 5 s", func() {
			s.usNATS.Cut()
			partition(s.usPostgres, 5*time.Second)
			s.usNATS.Heal()
		}},
	}

	var sent atomic.Int64
	var retries atomic.Int64 // failed webhook attempts, counted as they fail
	begin := time.Now()
	var wg sync.WaitGroup
	jobs := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range jobs {
				user, email := fmt.Sprintf("f%05d", i), fmt.Sprintf("f%05d@example.com", i)
				s.deliver("REGISTER", user, email, &retries)
				s.deliver("VERIFY_EMAIL", user, email, &retries)
				sent.Add(1)
			}
		})
	}
	// The stream is paced to last about 30 s whatever N is, and the faults are injected one after
	// the other at even points of it, so each one meets traffic.
	injected := make(chan string, len(faults))
	next := make(chan int, len(faults))
	go func() {
		for k := range next {
			before := retries.Load()
			faults[k].do()
			t.Logf("%s at %d users sent: %d failed webhook attempts during it", faults[k].name, sent.Load(), retries.Load()-before)
			injected <- faults[k].name
		}
		close(injected)
	}()
	pace := 30 * time.Second / time.Duration(n)
	for i := range n {
		if i > 0 && i%(n/(len(faults)+1)) == 0 && i/(n/(len(faults)+1)) <= len(faults) {
			next <- i/(n/(len(faults)+1)) - 1
		}
		time.Sleep(pace)
		jobs <- i
	}
	close(next)
	close(jobs)
	wg.Wait()
	var names []string
	for name := range injected {
		names = append(names, name)
	}
	sentAt := time.Since(begin)

	created := func() map[string]int {
		out := map[string]int{}
		for _, m := range s.bus.Messages(t, events.UserCreated.Subject) {
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
	dead := len(natstest.StreamMessages(t, s.bus.JS, s.bus.Config.DeadLetterStream, ""))
	summary := fmt.Sprintf("faults: N=%d users, faults injected %d (%v), webhooks retried %d, all sent after %s, converged after %s; "+
		"lost %d, duplicated UserCreated %d, active users %d, dead letters %d",
		n, len(names), names, retries.Load(), sentAt.Round(time.Millisecond), converged.Round(time.Millisecond), lost, dup, active, dead)
	t.Log(summary)
	fmt.Println(summary)
	if len(names) != len(faults) || lost != 0 || dup != 0 || active != n || dead != 0 {
		t.Fatal("the system lost, duplicated or dead-lettered events under faults")
	}
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
	s := &system{t: t, natsDir: filepath.Join(dir, "nats"), pgDir: filepath.Join(dir, "pg")}
	s.bus = natstest.NewAt(t, s.natsDir, 0)
	s.natsPort = s.bus.Server.Addr().(*net.TCPAddr).Port
	s.startPostgres()
	t.Cleanup(func() { _ = s.pg.Stop() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bins, err := stack.Build(ctx, filepath.Join(dir, "bin"), "idp-hook", "user-service")
	if err != nil {
		t.Fatal(err)
	}
	s.hookNATS, s.usNATS = s.link(fmt.Sprintf("127.0.0.1:%d", s.natsPort)), s.link(fmt.Sprintf("127.0.0.1:%d", s.natsPort))
	s.usPostgres = s.link(fmt.Sprintf("127.0.0.1:%d", s.pgPort))
	pgURL, err := url.Parse(s.pg.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	pgURL.Host = s.usPostgres.Addr()
	s.cfg = stack.PipelineConfig{Bins: bins, Dir: dir, NATSURL: "nats://" + s.usNATS.Addr(), DatabaseURL: pgURL.String(),
		OIDCIssuer: "http://127.0.0.1:1/realms/faults", WebhookSecrets: webhook.FormatSecret(secretKey),
		AdminToken: "faults-admin-token-0123456789", UserServiceEnv: map[string]string{"CONSUMER_ACK_WAIT": "3s"},
		IdPHookEnv: map[string]string{"NATS_URL": "nats://" + s.hookNATS.Addr()}}
	if s.p, err = stack.StartPipeline(ctx, s.cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.p.Stop()
		if t.Failed() {
			for _, f := range []string{"idp-hook.log", "user-service.log"} {
				b, _ := os.ReadFile(filepath.Join(dir, f))
				if len(b) > 3000 {
					b = b[len(b)-3000:]
				}
				t.Logf("--- %s\n%s", f, b)
			}
		}
	})
	return s
}

// link makes a cuttable path to target, closed with the test.
func (s *system) link(target string) *stack.Link {
	s.t.Helper()
	l, err := stack.NewLink(target)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { _ = l.Close() })
	return l
}

// partition cuts a link for d, then heals it.
func partition(l *stack.Link, d time.Duration) {
	l.Cut()
	time.Sleep(d)
	l.Heal()
}

// startPostgres starts (or restarts, after a crash) the system's Postgres on its directory and port.
func (s *system) startPostgres() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pg, err := embedded.StartPostgres(ctx, embedded.PostgresConfig{Dir: s.pgDir, Port: s.pgPort})
	if err != nil {
		s.t.Fatal(err)
	}
	s.pg, s.pgPort = pg, pg.Port()
}

func (s *system) restart(p *stack.Process) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		s.t.Fatal(err)
	}
}

// deliver sends one signed event until idp-hook accepts it, as Keycloak's provider does, counting
// every failed attempt in failed.
func (s *system) deliver(typ, user, email string, failed *atomic.Int64) {
	details := map[string]string{"email": email}
	if typ == "REGISTER" {
		details = map[string]string{"register_method": "form", "username": email, "email": email, "first_name": "Fault"}
	}
	body, _ := json.Marshal(map[string]any{"id": typ + "-" + user, "time": time.Now().UnixMilli(), "type": typ,
		"realmId": "bbq", "clientId": "dashboard", "userId": user, "details": details})
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		req, _ := http.NewRequest(http.MethodPost, s.p.IdPHookURL+"/webhooks/keycloak/events", bytes.NewReader(body))
		webhook.SignRequest(req.Header, []webhook.Secret{secretKey}, "wh-"+typ+"-"+user, time.Now(), body)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusAccepted {
				return
			}
		}
		failed.Add(1)
		time.Sleep(wait)
	}
}

func (s *system) scalar(sql string) int {
	s.t.Helper()
	pool, err := pgxpool.New(context.Background(), s.pg.URL("postgres"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer pool.Close()
	var n int
	if err := pool.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		s.t.Fatal(err)
	}
	return n
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/connectedbbq/platform/dev/stack"
	"github.com/connectedbbq/platform/testing/kctest"
	"github.com/connectedbbq/platform/testing/smtpsink"
)

// feelPassword is every bench person's password (the shipped realm's policy accepts it).
const feelPassword = "Smoky-Ribs-2026!"

// feelStack is the whole local system (Keycloak with the shipped realm, its webhook to idp-hook,
// user-service, the dashboard) on free ports, so it never meets `make run` or the e2e journey.
type feelStack struct {
	l      *stack.Local
	dir    string
	public string // the dashboard, which also serves Keycloak under /auth
	realm  *kctest.Realm
	api    *http.Client
}

func startFeelStack(ctx context.Context, out io.Writer) (*feelStack, error) {
	dir, err := os.MkdirTemp("", "bbq-bench-feel-")
	if err != nil {
		return nil, err
	}
	cfg := stack.LocalConfig{Dir: dir, Keycloak: true, Dashboard: true,
		Log: slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	for _, p := range []*int{&cfg.DashboardPort, &cfg.UserServicePort, &cfg.AdminPort, &cfg.IdPHookPort, &cfg.KeycloakPort,
		&cfg.KeycloakMgmtPort, &cfg.NATSPort, &cfg.PostgresPort, &cfg.SMTPPort, &cfg.DashboardOpsPort, &cfg.UserServiceOpsPort, &cfg.IdPHookOpsPort} {
		if *p, err = freePort(); err != nil {
			return nil, err
		}
	}
	l, err := stack.StartLocal(ctx, cfg)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("local stack on free ports: %w", err)
	}
	s := &feelStack{l: l, dir: dir, public: fmt.Sprintf("http://localhost:%d", cfg.DashboardPort),
		api: &http.Client{Timeout: 10 * time.Second}}
	var sec struct{ KeycloakAdmin string }
	if b, err := os.ReadFile(filepath.Join(dir, "secrets.json")); err == nil {
		_ = json.Unmarshal(b, &sec)
	}
	// kctest's browser drives the stack's own realm, through the dashboard as a person's browser goes.
	s.realm = &kctest.Realm{KC: &kctest.Keycloak{URL: s.public + "/auth", AdminUser: "admin", AdminPassword: sec.KeycloakAdmin},
		Name: "bbq", Issuer: s.public + "/auth/realms/bbq", Mail: l.SMTP, RedirectURIs: []string{s.public + "/login/callback"},
		Secrets: map[string]string{}}
	return s, nil
}

func (s *feelStack) stop() {
	s.l.Stop()
	os.RemoveAll(s.dir)
}

func freePort() (int, error) {
	a, err := stack.FreeAddr()
	if err != nil {
		return 0, err
	}
	_, p, err := net.SplitHostPort(a)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(p)
}

// person is one bench sign-up, verified, with the dashboard's tokens.
type person struct {
	email  string
	token  kctest.Token
	tenant string        // the personal tenant user-service gave them
	felt   time.Duration // verification link opened -> the tenant readable in the API
	after  time.Duration // of which after Keycloak handed out the tokens (the pipeline's part, at most)
}

// signUp registers through Keycloak's registration form, opens the mailed verification link (setting the
// password, as Keycloak asks), exchanges the code like the dashboard, and polls the API until the person's
// tenant is there. The time is from opening the link, as a person clicks it, to the tenant in the API.
func (s *feelStack) signUp(ctx context.Context, email string) (person, error) {
	p := person{email: email}
	tb := newTB("bench-" + email)
	defer tb.close()
	var t0, tokAt time.Time
	err := tbRun(func() {
		sess := s.realm.SignUp(tb, email, feelPassword, "Bench Griller")
		sess.VerificationMail(tb)
		t0 = time.Now()
		p.token = sess.FollowVerification(tb)
		tokAt = time.Now()
	})
	if err != nil {
		return p, fmt.Errorf("sign up %s: %w", email, err)
	}
	ts, err := s.waitTenants(ctx, p.token, func(ts []myTenant) bool { return len(ts) > 0 })
	if err != nil {
		return p, fmt.Errorf("tenant of %s: %w", email, err)
	}
	p.felt, p.tenant = time.Since(t0), ts[0].ID
	p.after = p.felt - tokAt.Sub(t0)
	return p, nil
}

type myTenant struct {
	ID   string `json:"id"`
	Role string `json:"role"`
}

// waitTenants polls GET /v1/me/tenants every 20 ms until ok holds (or 30 s pass).
func (s *feelStack) waitTenants(ctx context.Context, tok kctest.Token, ok func([]myTenant) bool) ([]myTenant, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var body struct{ Tenants []myTenant }
		code, err := s.call(ctx, http.MethodGet, "/v1/me/tenants", tok, "", nil, &body)
		if err == nil && code == http.StatusOK && ok(body.Tenants) {
			return body.Tenants, nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return nil, fmt.Errorf("not within 30 s: %w", err)
			}
			return nil, fmt.Errorf("not within 30 s (last: HTTP %d)", code)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// call sends one request to user-service's API with the person's token (and active tenant, when given).
func (s *feelStack) call(ctx context.Context, method, path string, tok kctest.Token, tenant string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, method, s.l.Pipeline.UserServiceURL+path, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tenant != "" {
		req.Header.Set("X-Tenant-ID", tenant)
	}
	resp, err := s.api.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode/100 == 2 {
		return resp.StatusCode, json.NewDecoder(resp.Body).Decode(out)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// invite has a invite b into a's tenant, and times from b accepting the mailed link's token to a's tenant
// among b's tenants in the API.
func (s *feelStack) invite(ctx context.Context, a, b person) (time.Duration, error) {
	since := time.Now()
	code, err := s.call(ctx, http.MethodPost, "/v1/tenant/invitations", a.token, a.tenant, map[string]string{"email": b.email, "role": "member"}, nil)
	if err := want(code, err, http.StatusCreated); err != nil {
		return 0, fmt.Errorf("invite %s: %w", b.email, err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	m, err := s.l.SMTP.Wait(wctx, func(m smtpsink.Message) bool {
		return !m.Received.Before(since) && slices.ContainsFunc(m.To, func(t string) bool { return strings.Contains(t, b.email) }) && invitationToken(m) != ""
	})
	if err != nil {
		return 0, fmt.Errorf("invitation mail to %s: %w", b.email, err)
	}
	t0 := time.Now()
	code, err = s.call(ctx, http.MethodPost, "/v1/invitations/"+url.PathEscape(invitationToken(m))+"/accept", b.token, "", nil, nil)
	if err := want(code, err, http.StatusOK); err != nil {
		return 0, fmt.Errorf("accept by %s: %w", b.email, err)
	}
	if _, err := s.waitTenants(ctx, b.token, func(ts []myTenant) bool {
		return slices.ContainsFunc(ts, func(t myTenant) bool { return t.ID == a.tenant })
	}); err != nil {
		return 0, fmt.Errorf("shared tenant of %s: %w", b.email, err)
	}
	return time.Since(t0), nil
}

// want is an error unless the call succeeded with the status.
func want(code int, err error, status int) error {
	if err != nil {
		return err
	}
	if code != status {
		return fmt.Errorf("HTTP %d, want %d", code, status)
	}
	return nil
}

// invitationToken is the token of the mail's dashboard invitation link.
func invitationToken(m smtpsink.Message) string {
	for _, l := range m.Links() {
		if u, err := url.Parse(l); err == nil && strings.HasSuffix(u.Path, "/invitations/accept") {
			return u.Query().Get("token")
		}
	}
	return ""
}

// quantiles are p50 and p99 of ds (sorted in place).
func quantiles(ds []time.Duration) (p50, p99 time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	slices.Sort(ds)
	q := func(p float64) time.Duration { return ds[min(int(p*float64(len(ds))), len(ds)-1)] }
	return q(0.50), q(0.99)
}

// loadAvg is /proc/loadavg's three averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// parallel runs f(i) for i < n on conc goroutines, the i-th at i/rate seconds (rate 0: as fast as they go), and
// returns the first error.
func parallel(n, conc, rate int, f func(i int) error) error {
	var first error
	var mu sync.Mutex
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for i := range jobs {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	start := time.Now()
	for i := range n {
		if rate > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))))
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return first
}

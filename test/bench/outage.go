package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/connectedbbq/platform/dev/stack"
	"github.com/connectedbbq/platform/pkg/events"
	"github.com/connectedbbq/platform/pkg/keycloak"
	"github.com/connectedbbq/platform/pkg/webhook"
	"github.com/connectedbbq/platform/testing/kctest"
)

// outageRealm is the realm of the outage stage; user-service takes its events beside the pipeline's
// (EVENT_SOURCES, see startEnv).
const outageRealm = "bench-outage"

// outageResult is the reconciler catching up on sign-ups that no webhook brought (idp-hook was down).
type outageResult struct {
	users    int
	created  time.Duration // creating the users in Keycloak (setup, not measured)
	caughtUp time.Duration // idp-hook started -> the last UserCreated on the bus
	// What the reconciler published by the catch-up (new to the bus, dropped as duplicates), and in the
	// passes of the settle seconds after it.
	recovered, duplicates int
	laterNew, laterDup    int
	hookCPU, usersCPU     float64 // CPU seconds of the reconciling idp-hook and of user-service during the catch-up
	keycloakCPU           float64 // and of Keycloak (-1: not known, a reused KCTEST_URL server)
}

// outageSettle is how long the stage watches the reconciler's passes after the catch-up.
const outageSettle = 5 * time.Second

func (o outageResult) rate() float64 { return float64(o.users) / o.caughtUp.Seconds() }

// outage creates n users through Keycloak's admin API in a realm that stores admin events, with no
// idp-hook reading it (none had KEYCLOAK_URL, and the realm has no webhook listener: the outage), then
// starts an idp-hook whose reconciler reads that realm and times until user-service announced every user.
// The admin API is what the reconciler can replay: each user leaves an admin USER CREATE event with its
// representation (partial import stores none per user).
func (e *benchEnv) outage(ctx context.Context, kc *kctest.Keycloak, n int, extraEnv string, out io.Writer) (outageResult, error) {
	r := outageResult{users: n}
	realm, secret := outageRealm, token(16)
	_ = kc.AdminRequest(ctx, "DELETE", "/admin/realms/"+realm, nil, nil) // left by an interrupted run, if any
	// The realm's id is Keycloak's (a UUID), not its name: idp-hook must name the source after the realm's name.
	if err := createServiceRealm(ctx, kc, realm, secret, map[string]any{"adminEventsEnabled": true, "adminEventsDetailsEnabled": true,
		"eventsEnabled": true, "enabledEventTypes": []string{"REGISTER", "VERIFY_EMAIL", "UPDATE_PROFILE", "DELETE_ACCOUNT"}}); err != nil {
		return r, err
	}
	defer kc.AdminRequest(context.Background(), "DELETE", "/admin/realms/"+realm, nil, nil) //nolint:errcheck // best effort
	start := time.Now()
	ids, err := createUsers(ctx, kc, realm, n)
	if err != nil {
		return r, err
	}
	r.created = time.Since(start)
	fmt.Fprintf(out, "outage: %d users created in Keycloak (admin API) in %s while idp-hook was down\n", n, r.created.Round(time.Millisecond))

	var seen atomic.Int64
	done := make(chan struct{})
	var mu sync.Mutex
	sub, err := e.nc.Subscribe(events.UserCreated.Subject, func(m *nats.Msg) {
		d, err := events.Decode(m.Data)
		if err != nil {
			return
		}
		mu.Lock()
		_, want := ids[d.Event.Subject()]
		delete(ids, d.Event.Subject())
		mu.Unlock()
		if want && seen.Add(1) == int64(n) {
			close(done)
		}
	})
	if err != nil {
		return r, err
	}
	defer sub.Unsubscribe() //nolint:errcheck // the connection closes anyway

	hook, err := e.reconcilingHook(kc, realm, secret, extraEnv)
	if err != nil {
		return r, err
	}
	usersCPU, kcCPU := cpuSeconds(e.p.UserService.Pid()), keycloakCPU(kc)
	start = time.Now()
	if err := hook.Start(ctx); err != nil {
		return r, err
	}
	defer hook.Stop(20 * time.Second) //nolint:errcheck // the bench is ending this stage
	if err := waitAll(ctx, done, &seen, n, start, out); err != nil {
		return r, err
	}
	r.caughtUp = time.Since(start)
	r.hookCPU, r.usersCPU = cpuSeconds(hook.Pid()), cpuSeconds(e.p.UserService.Pid())-usersCPU
	if r.keycloakCPU = -1; kcCPU >= 0 {
		r.keycloakCPU = keycloakCPU(kc) - kcCPU
	}
	ops := strings.TrimSuffix(strings.TrimPrefix(hook.Ready, "http://"), "/readyz")
	if r.recovered, r.duplicates, err = reconciled(ctx, ops); err != nil {
		return r, err
	}
	time.Sleep(outageSettle) // passes over what is done must publish nothing
	newAfter, dupAfter, err := reconciled(ctx, ops)
	r.laterNew, r.laterDup = newAfter-r.recovered, dupAfter-r.duplicates
	return r, err
}

// keycloakCPU is the CPU time of a Keycloak the bench started (its process tree: kc.sh and java), -1 if it
// reuses one.
func keycloakCPU(kc *kctest.Keycloak) float64 {
	if kc.Pid() == 0 {
		return -1
	}
	return treeCPU(allProcs(), kc.Pid()).Seconds()
}

// reconcilingHook is a second idp-hook on the bench's bus that reconciles the realm (passes every second,
// replaying what is at least a second old); the pipeline's own idp-hook knows no Keycloak.
func (e *benchEnv) reconcilingHook(kc *kctest.Keycloak, realm, secret, extraEnv string) (*stack.Process, error) {
	addr, err := stack.FreeAddr()
	if err != nil {
		return nil, err
	}
	ops, err := stack.FreeAddr()
	if err != nil {
		return nil, err
	}
	env := map[string]string{"HTTP_ADDR": addr, "OPS_ADDR": ops, "NATS_URL": e.nc.ConnectedUrl(),
		"WEBHOOK_SECRETS": webhook.FormatSecret(e.secret), "KEYCLOAK_URL": kc.URL, "KEYCLOAK_REALM": realm,
		"KEYCLOAK_CLIENT_SECRET": secret, "RECONCILE_INTERVAL": "1s", "RECONCILE_SETTLE": "1s", "LOG_LEVEL": "warn"}
	maps.Copy(env, envList(extraEnv))
	return &stack.Process{Name: "idp-hook-reconciler", Bin: e.bins["idp-hook"], LogPath: filepath.Join(e.dir, "idp-hook-reconciler.log"),
		Ready: "http://" + ops + "/readyz", Env: env}, nil
}

// waitAll waits for every announcement, printing progress every 5 s.
func waitAll(ctx context.Context, done <-chan struct{}, seen *atomic.Int64, n int, start time.Time, out io.Writer) error {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return nil
		case <-tick.C:
			s := seen.Load()
			fmt.Fprintf(out, "outage: %d/%d users active after %s (%.0f users/s)\n", s, n, time.Since(start).Round(time.Second), float64(s)/time.Since(start).Seconds())
			if time.Since(start) > 30*time.Minute {
				return fmt.Errorf("only %d of %d users announced after 30 minutes", s, n)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// createUsers creates n verified users through the admin API, 8 requests at a time; it returns their ids.
func createUsers(ctx context.Context, kc *kctest.Keycloak, realm string, n int) (map[string]struct{}, error) {
	c, err := keycloak.New(keycloak.Config{BaseURL: kc.URL, Realm: realm, TokenRealm: "master",
		ClientID: "admin-cli", Username: kc.AdminUser, Password: kc.AdminPassword})
	if err != nil {
		return nil, err
	}
	ids := make(map[string]struct{}, n)
	var mu sync.Mutex
	var firstErr atomic.Value
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range jobs {
				email := "missed" + strconv.Itoa(i) + "@example.com"
				id, err := c.CreateUser(ctx, keycloak.User{Username: email, Email: email, Enabled: true, EmailVerified: true, FirstName: "Missed", LastName: strconv.Itoa(i)})
				if err != nil {
					firstErr.CompareAndSwap(nil, fmt.Errorf("create user %s: %w", email, err))
					continue
				}
				mu.Lock()
				ids[id] = struct{}{}
				mu.Unlock()
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return nil, err
	}
	return ids, nil
}

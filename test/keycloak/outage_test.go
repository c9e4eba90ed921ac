package keycloak

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/connectedbbq/platform/pkg/events"
)

// Keycloak's own listener first meets an idp-hook that answers 503 (its NATS is down), then no idp-hook at all
// (killed). The reconciler is off, so only the provider's retries can bring the sign-ups in: every one must
// arrive, once.
func TestProviderRetriesCarrySignUpsThroughOutages(t *testing.T) {
	// A publish that cannot reach NATS gives up after 1 s, so Keycloak hears 503 rather than a slow answer.
	e := newEnv(t, options{webhook: true, hookEnv: map[string]string{"PUBLISH_TIMEOUT": "1s", "RETRY_AFTER": "1s"}})
	signUps := func(from, to int) {
		for i := from; i < to; i++ {
			e.realm.SignUp(t, fmt.Sprintf("outage%d@example.com", i), password, fmt.Sprintf("Outage %d", i)).FollowVerification(t)
		}
	}

	e.bus.Stop()
	signUps(0, 3)
	// Each sign-up is a REGISTER and a VERIFY_EMAIL: every one of them meets a 503 before NATS is back.
	e.eventually(time.Minute, "idp-hook answering 503 to six events", func() bool { return e.busUnavailable() >= 6 })
	refused := e.busUnavailable()
	e.bus.Restart(t)

	e.p.IdPHook.Kill()
	signUps(3, 6)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.p.IdPHook.Start(ctx); err != nil {
		t.Fatal(err)
	}

	e.eventually(2*time.Minute, "six UserCreated", func() bool { return len(e.count(events.UserCreated.Subject)) == 6 })
	time.Sleep(2 * time.Second) // late duplicates would show now
	for user, n := range e.count(events.UserCreated.Subject) {
		if n != 1 {
			t.Errorf("user %s: %d UserCreated", user, n)
		}
	}
	if n := e.scalar(`SELECT count(*) FROM users WHERE status = 'active'`); n != 6 {
		t.Errorf("%d active users, want 6", n)
	}
	status := e.realm.KC.LogCount("bbq-webhook:", "(realm "+e.realm.Name+")", "failed: HTTP 503")
	unreachable := e.realm.KC.LogCount("bbq-webhook:", "(realm "+e.realm.Name+")", "failed: ConnectException")
	t.Logf("idp-hook answered 503 %d times; Keycloak's log: %d attempts failed with 503, %d could not connect; all retried", refused, status, unreachable)
	if e.realm.KC.HasLog() && (status == 0 || unreachable == 0) {
		t.Errorf("the provider should have logged both kinds of failed attempts")
	}
}

// busUnavailable is how many webhooks idp-hook refused with 503 since it started, from its metrics.
func (e *env) busUnavailable() int {
	e.t.Helper()
	resp, err := http.Get(e.p.IdPHookOpsURL + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	total := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "bbq_idphook_webhooks_total{") && strings.Contains(line, `outcome="bus_unavailable"`) {
			n, _ := strconv.Atoi(line[strings.LastIndexByte(line, ' ')+1:])
			total += n
		}
	}
	return total
}

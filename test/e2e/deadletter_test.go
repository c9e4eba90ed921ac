package e2e

import (
	"context"
	"encoding/json"
	"maps"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/connectedbbq/platform/pkg/bus"
	"github.com/connectedbbq/platform/testing/embedded"
	"github.com/connectedbbq/platform/testing/natstest"
)

// A message that can never be decoded, and one that a check constraint refuses, are dead-lettered on
// their first delivery with their reason; the second replays once the cause is fixed.
func TestPoisonMessagesAreDeadLetteredAndReplayed(t *testing.T) {
	e := newEnv(t, map[string]string{"CONSUMER_MAX_DELIVER": "3", "CONSUMER_BACKOFF": "100ms"})
	ctx := context.Background()

	garbage := nats.NewMsg("events.idp.user.registered")
	garbage.Data = []byte(`{"specversion":"1.0","id":"x"`)
	if _, err := e.bus.JS.PublishMsg(ctx, garbage); err != nil {
		t.Fatal(err)
	}
	// The operator's mistake: a constraint that rejects this user's email.
	if _, err := e.db.Exec(ctx, `ALTER TABLE users ADD CONSTRAINT no_blocked CHECK (email NOT LIKE '%@blocked.example')`); err != nil {
		t.Fatal(err)
	}
	e.mustPost(eventsPath, "r-erin", kcEvent("reg-erin", "REGISTER", "erin", "erin@blocked.example"))

	e.eventually(15*time.Second, "two dead letters", func() bool { return len(e.deadLetters()) == 2 })
	for _, m := range e.deadLetters() {
		if m.Header.Get(bus.HeaderDeadLetterError) == "" || m.Header.Get(bus.HeaderDeadLetterSubject) != "events.idp.user.registered" {
			t.Fatalf("dead letter without its error or subject: %v", m.Header)
		}
		if r := m.Header.Get(bus.HeaderDeadLetterReason); (r != "undecodable" && r != "constraint") || m.Header.Get(bus.HeaderDeadLetterDeliveries) != "1" {
			t.Fatalf("dead letter with reason %q after %s deliveries, want undecodable or constraint after 1", r, m.Header.Get(bus.HeaderDeadLetterDeliveries))
		}
	}
	if n := e.scalar(`SELECT count(*) FROM users WHERE id = 'erin'`); n != 0 {
		t.Fatal("the failing event left a row")
	}

	if _, err := e.db.Exec(ctx, `ALTER TABLE users DROP CONSTRAINT no_blocked`); err != nil {
		t.Fatal(err)
	}
	out, err := e.userServiceCommand("deadletters", "list")
	if err != nil || strings.Count(out, "\n") != 2 {
		t.Fatalf("deadletters list: %v\n%s", err, out)
	}
	erinSeq := ""
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var l struct {
			Seq   uint64 `json:"seq"`
			Error string `json:"error"`
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("deadletters list printed %q: %v", line, err)
		}
		if strings.Contains(l.Error, "no_blocked") {
			erinSeq = strconv.FormatUint(l.Seq, 10)
		}
	}
	if erinSeq == "" {
		t.Fatalf("no dead letter names the constraint:\n%s", out)
	}
	// Replaying republishes on events.idp, which user-service's own NATS user may not: an operator's does.
	admin := e.bus.Credentials(embedded.UserAdmin)
	if out, err := e.userServiceCommand("NATS_USER="+admin.User, "NATS_PASSWORD="+admin.Password, "deadletters", "replay", erinSeq); err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	e.eventually(10*time.Second, "erin stored after replay", func() bool {
		return e.scalar(`SELECT count(*) FROM users WHERE id = 'erin' AND registered`) == 1
	})
	if n := len(e.deadLetters()); n != 1 {
		t.Fatalf("%d dead letters after replaying one of two, want 1", n)
	}
}

func (e *env) deadLetters() []*nats.Msg {
	var out []*nats.Msg
	for _, m := range natstest.StreamMessages(e.t, e.bus.JS, e.bus.Config.DeadLetterStream, "") {
		out = append(out, &nats.Msg{Subject: m.Subject, Header: m.Header, Data: m.Data})
	}
	return out
}

// userServiceCommand runs user-service with args in the service's environment; leading KEY=value arguments
// override it.
func (e *env) userServiceCommand(args ...string) (string, error) {
	env := maps.Clone(e.p.UserService.Env)
	for len(args) > 0 && strings.Contains(args[0], "=") {
		k, v, _ := strings.Cut(args[0], "=")
		env[k], args = v, args[1:]
	}
	cmd := exec.Command(bins["user-service"], args...)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	b, err := cmd.Output()
	return string(b), err
}

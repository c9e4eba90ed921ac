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

	"github.com/connectedbbq/platform/testing/embedded"
	"github.com/connectedbbq/platform/testing/natstest"
)

// An event that a check constraint refuses is dead-lettered, and the shipped binary's `deadletters` command
// lists it and replays it once the cause is fixed. Which errors dead-letter, after how many deliveries and
// with which headers is checked in the consumer's package (services/user-service/internal/consumer).
func TestPoisonMessagesAreDeadLetteredAndReplayed(t *testing.T) {
	e := newEnv(t, map[string]string{"CONSUMER_MAX_DELIVER": "3", "CONSUMER_BACKOFF": "100ms"})
	ctx := context.Background()
	// The operator's mistake: a constraint that rejects this user's email.
	if _, err := e.db.Exec(ctx, `ALTER TABLE users ADD CONSTRAINT no_blocked CHECK (email NOT LIKE '%@blocked.example')`); err != nil {
		t.Fatal(err)
	}
	e.mustPost(eventsPath, "r-erin", kcEvent("reg-erin", "REGISTER", "erin", "erin@blocked.example"))
	e.eventually(15*time.Second, "a dead letter", func() bool { return len(e.deadLetters()) == 1 })
	if n := e.scalar(`SELECT count(*) FROM users WHERE id = 'erin'`); n != 0 {
		t.Fatal("the failing event left a row")
	}

	if _, err := e.db.Exec(ctx, `ALTER TABLE users DROP CONSTRAINT no_blocked`); err != nil {
		t.Fatal(err)
	}
	out, err := e.userServiceCommand("deadletters", "list")
	if err != nil || strings.Count(out, "\n") != 1 {
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
	if n := len(e.deadLetters()); n != 0 {
		t.Fatalf("%d dead letters after replaying the only one, want 0", n)
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

package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"os"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectedbbq/platform/pkg/bus"
	"github.com/connectedbbq/platform/pkg/events"
	eventsv1 "github.com/connectedbbq/platform/pkg/gen/bbq/events/v1"
	"github.com/connectedbbq/platform/testing/embedded"
	"github.com/connectedbbq/platform/testing/natstest"
	"github.com/connectedbbq/platform/testing/pgtest"
)

var pg *pgtest.Server

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &pg)) }

// outbox is a Sender that remembers what it sent and fails the first attempt for the users in failOnce.
type outbox struct {
	mu       sync.Mutex
	sent     map[string]int
	attempts map[string]int
	failOnce map[string]bool
}

func (o *outbox) send(_ context.Context, to, _ string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.attempts[to]++
	if o.failOnce[to] && o.attempts[to] == 1 {
		return errors.New("mail server unavailable")
	}
	o.sent[to]++
	return nil
}

func (o *outbox) counts() (sent, attempts map[string]int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return maps.Clone(o.sent), maps.Clone(o.attempts)
}

// A welcome per user, once: through a failed send (redelivered), an event replayed on the bus with another
// Nats-Msg-Id (as `user-service deadletters replay` does), and a restart of the mailer on its durable consumer.
func TestEachUserIsWelcomedOnceWhateverTheRedeliveries(t *testing.T) {
	b := natstest.NewSecured(t)
	db, err := pgxpool.New(context.Background(), pg.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	box := &outbox{sent: map[string]int{}, attempts: map[string]int{}, failOnce: map[string]bool{"bo@example.com": true}}
	stop := startMailer(t, b, db, box)

	ada := userCreated(t, "ada", "ada@example.com")
	bo := userCreated(t, "bo", "bo@example.com")
	publish(t, b, ada, ada.ID())
	publish(t, b, bo, bo.ID())
	publish(t, b, ada, "replay-1") // the same CloudEvent again, past JetStream's duplicate detection
	want := map[string]int{"ada@example.com": 1, "bo@example.com": 1}
	waitFor(t, "both welcomed, everything acknowledged", func() bool {
		s, _ := box.counts()
		return maps.Equal(s, want) && pending(t, b) == 0
	})
	// bo: the failed send was redelivered and sent; ada: the replay found the inbox row and sent nothing.
	if _, a := box.counts(); !maps.Equal(a, map[string]int{"ada@example.com": 1, "bo@example.com": 2}) {
		t.Fatalf("send attempts %v, want ada 1, bo 2", a)
	}

	stop() // a restart resumes the durable consumer: nothing acknowledged comes back
	startMailer(t, b, db, box)
	publish(t, b, bo, "replay-2")
	waitFor(t, "the replay after the restart acknowledged", func() bool { return pending(t, b) == 0 })
	if s, a := box.counts(); !maps.Equal(s, want) || a["bo@example.com"] != 2 {
		t.Fatalf("welcomes sent %v (attempts %v), want %v", s, a, want)
	}
	var rows int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM welcome_inbox`).Scan(&rows); err != nil || rows != 2 {
		t.Fatalf("inbox rows %d (%v), want 2", rows, err)
	}
}

// startMailer runs the mailer as the read-only NATS user until the returned stop (or the test's end).
func startMailer(t *testing.T, b *natstest.Bus, db *pgxpool.Pool, box *outbox) (stop func()) {
	t.Helper()
	reader := b.Credentials(embedded.UserReader)
	nc, err := Connect(b.URL, reader.User, reader.Password)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	m := &Mailer{DB: db, Send: box.send, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := m.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Consume(ctx, js, b.Config.Stream, "welcome-mailer") }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
			nc.Close()
		})
	}
	t.Cleanup(stop)
	return stop
}

func userCreated(t *testing.T, id, email string) cloudevents.Event {
	t.Helper()
	data := &eventsv1.UserCreated{User: &eventsv1.User{UserId: id, Email: email, Name: id,
		Status: eventsv1.UserStatus_USER_STATUS_ACTIVE}}
	ev, err := events.New(events.UserCreated, events.Meta{ID: "outbox-" + id, Source: events.UsersSource,
		Subject: id, Time: time.Now()}, data)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// publish puts ev on the bus as the user service does, with msgID as the Nats-Msg-Id (the admin connection).
func publish(t *testing.T, b *natstest.Bus, ev cloudevents.Event, msgID string) {
	t.Helper()
	msg, err := bus.Message(events.UserCreated.Subject, ev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.JS.PublishMsg(context.Background(), msg, jetstream.WithMsgID(msgID)); err != nil {
		t.Fatal(err)
	}
}

// pending is what the mailer's consumer has not acknowledged yet.
func pending(t *testing.T, b *natstest.Bus) int {
	t.Helper()
	c, err := b.JS.Consumer(context.Background(), b.Config.Stream, "welcome-mailer")
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return int(info.NumPending) + info.NumAckPending
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
	}
}

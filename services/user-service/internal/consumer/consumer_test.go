package consumer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/connectedbbq/platform/pkg/bus"
	"github.com/connectedbbq/platform/pkg/events"
	eventsv1 "github.com/connectedbbq/platform/pkg/gen/bbq/events/v1"
	"github.com/connectedbbq/platform/services/user-service/internal/consumer"
	"github.com/connectedbbq/platform/services/user-service/internal/store"
	"github.com/connectedbbq/platform/testing/embedded"
	"github.com/connectedbbq/platform/testing/natstest"
	"github.com/connectedbbq/platform/testing/pgtest"
)

var srv *pgtest.Server

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &srv)) }

// env is a consumer on its own JetStream and database, with the store's real adapter.
type env struct {
	t       *testing.T
	bus     *natstest.Bus
	db      *pgx.Conn // the test's own connection
	dsn     string
	metrics *consumer.Metrics
	logs    *syncBuffer
}

// newEnv starts a consumer that tries each event maxDeliver times, an hour apart: a retry never happens
// within a test. dsnParams are added to the store's connection string.
func newEnv(t *testing.T, maxDeliver int, dsnParams string) *env {
	t.Helper()
	return newEnvOn(t, srv.NewDatabase(t), maxDeliver, dsnParams)
}

// newEnvOn is newEnv on the database at dsn.
func newEnvOn(t *testing.T, dsn string, maxDeliver int, dsnParams string) *env {
	t.Helper()
	e := newStoppedEnv(t, dsn)
	e.run(e.bus.JS, e.config(maxDeliver), dsnParams)
	return e
}

// newStoppedEnv is an env whose consumer is not running yet: see run.
func newStoppedEnv(t *testing.T, dsn string) *env {
	t.Helper()
	t.Parallel() // each test owns its stream and database
	ctx := context.Background()
	if _, err := store.Migrate(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	db, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	return &env{t: t, bus: natstest.New(t), db: db, dsn: dsn, metrics: consumer.NewMetrics(prometheus.NewRegistry()), logs: &syncBuffer{}}
}

// config is the consumer's configuration in tests: one worker, each event tried maxDeliver times an hour apart.
func (e *env) config(maxDeliver int) consumer.Config {
	return consumer.Config{Stream: e.bus.Config.Stream, Durable: "user-service", MaxDeliver: maxDeliver,
		BackOff: []time.Duration{time.Hour}, AckWait: 30 * time.Second, Workers: 1, BatchSize: 10,
		Sources: []string{events.IdPSource("bbq")}}
}

// run runs a consumer as cfg says on js, over the store at the env's database (with dsnParams), until the
// test ends; it must end without an error.
func (e *env) run(js jetstream.JetStream, cfg consumer.Config, dsnParams string) {
	t := e.t
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, e.dsn+dsnParams, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	c := consumer.New(cfg, js, s, slog.New(slog.NewTextHandler(e.logs, nil)), e.metrics)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("consumer: %v", err)
		}
	})
}

// publish puts a self-service registration on the bus, as idp-hook would, after edits to its envelope.
func (e *env) publish(userID, name, email string, edits ...func(*cloudevents.Event)) {
	e.t.Helper()
	ev, err := events.New(events.UserRegistered, events.Meta{ID: "reg-" + userID, Source: events.IdPSource("bbq"), Subject: userID, Time: time.Now()},
		&eventsv1.UserRegistered{UserId: userID, Email: email, UserName: email, Name: name, Realm: "bbq",
			Method: eventsv1.RegistrationMethod_REGISTRATION_METHOD_SELF_SERVICE})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, edit := range edits {
		edit(&ev)
	}
	if _, err := bus.NewPublisher(e.bus.JS).Publish(context.Background(), events.UserRegistered.Subject, ev); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) deadLetters() []jetstream.RawStreamMsg {
	return natstest.StreamMessages(e.t, e.bus.JS, e.bus.Config.DeadLetterStream, "")
}

func (e *env) eventually(what string, ok func() bool) {
	e.t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !ok(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			e.t.Fatalf("not after 15s: %s\nconsumer log:\n%s", what, e.logs.String())
		}
	}
}

func (e *env) registered(userID string) bool {
	var n int
	if err := e.db.QueryRow(context.Background(), `SELECT count(*) FROM users WHERE id = $1 AND registered`, userID).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n == 1
}

// An event that can never apply is dead-lettered on its first delivery, with its error and reason, and counted;
// the events beside it in the batch apply. (Before, each took CONSUMER_MAX_DELIVER attempts over the back-off.)
func TestPermanentErrorsAreDeadLetteredOnFirstDelivery(t *testing.T) {
	e := newEnv(t, 5, "")
	if _, err := e.db.Exec(context.Background(), `ALTER TABLE users ADD CONSTRAINT no_blocked CHECK (email NOT LIKE '%@blocked.example')`); err != nil {
		t.Fatal(err)
	}
	e.publish("nul-name", "Pat\x00Griller", "pat@example.com") // published on the bus directly, past idp-hook
	e.publish("nul\x00id", "Pat", "pat2@example.com")
	e.publish("blocked", "Erin", "erin@blocked.example")
	e.publish("ok", "Sam", "sam@example.com")
	e.publish("teleported", "Tim", "tim@example.com", func(ev *cloudevents.Event) { ev.SetType("com.connectedbbq.idp.user.teleported.v1") })
	e.publish("no-subject", "Nat", "nat@example.com", func(ev *cloudevents.Event) { ev.SetSubject("") })
	garbage := nats.NewMsg(events.UserRegistered.Subject) // not even a CloudEvent
	garbage.Data = []byte(`{"specversion":"1.0","id":"garbage"`)
	if _, err := e.bus.JS.PublishMsg(context.Background(), garbage); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ // event id (the subject for what does not decode) -> reason
		garbage.Subject: "undecodable", "reg-nul-name": store.ReasonInvalidData, "reg-nul\x00id": store.ReasonInvalidData, "reg-blocked": store.ReasonConstraint,
		"reg-no-subject": store.ReasonInvalidEvent, "reg-teleported": "unknown_type",
	}
	e.eventually("6 dead letters", func() bool { return len(e.deadLetters()) == len(want) })
	for _, m := range e.deadLetters() {
		ev := cloudevents.NewEvent()
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			ev.SetID(m.Header.Get(bus.HeaderDeadLetterSubject))
		}
		h := m.Header
		if h.Get(bus.HeaderDeadLetterReason) != want[ev.ID()] || h.Get(bus.HeaderDeadLetterDeliveries) != "1" || h.Get(bus.HeaderDeadLetterError) == "" {
			t.Errorf("%q dead-lettered with reason %q after %s deliveries (error %q), want %q after 1",
				ev.ID(), h.Get(bus.HeaderDeadLetterReason), h.Get(bus.HeaderDeadLetterDeliveries), h.Get(bus.HeaderDeadLetterError), want[ev.ID()])
		}
		if strings.ContainsAny(h.Get(bus.HeaderDeadLetterError), "\x00\r\n") {
			t.Errorf("error header carries control characters: %q", h.Get(bus.HeaderDeadLetterError))
		}
	}
	e.eventually("sam applied beside them", func() bool { return e.registered("ok") })
	for reason, n := range map[string]float64{store.ReasonInvalidData: 2, store.ReasonConstraint: 1, store.ReasonInvalidEvent: 1, "unknown_type": 1, "undecodable": 1, "max_deliver": 0} {
		if got := testutil.ToFloat64(e.metrics.DeadLetters.WithLabelValues(reason)); got != n {
			t.Errorf("bbq_users_dead_letters_total{reason=%q} = %v, want %v", reason, got, n)
		}
	}
	if e.registered("nul-name") || e.registered("blocked") {
		t.Error("a dead-lettered event left a registered user")
	}
}

// A lock that outlasts lock_timeout is contention, not the event: the event is held, not charged an attempt
// (MaxDeliver is 1, so a charged attempt would dead-letter it), and applies once the lock is gone.
func TestLockTimeoutIsRetriedThenApplies(t *testing.T) {
	e := newEnv(t, 1, "&lock_timeout=100")
	ctx := context.Background()
	if _, err := e.db.Exec(ctx, `INSERT INTO users (id) VALUES ('locked')`); err != nil {
		t.Fatal(err)
	}
	tx, err := e.db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM users WHERE id = 'locked' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	e.publish("locked", "Lou", "lou@example.com")
	e.eventually("the event held while the row is locked", func() bool {
		return strings.Contains(e.logs.String(), "lock timeout") && strings.Contains(e.logs.String(), "holding events")
	})
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	e.eventually("lou applied", func() bool { return e.registered("locked") })
	if n := len(e.deadLetters()); n != 0 {
		t.Fatalf("%d dead letters, want 0", n)
	}
}

// Postgres stopped for a while (a restart, a failover) is waited out: the event is held, not charged an
// attempt, and applies when the server is back.
func TestPostgresStoppedBrieflyIsRetriedThenApplies(t *testing.T) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "consumer-pg-") // not t.TempDir: the server's unprivileged user must reach it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	pg, err := embedded.StartPostgres(ctx, embedded.PostgresConfig{Dir: dir, Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Stop() })
	e := newEnvOn(t, pg.URL("postgres"), 1, "")
	e.publish("before", "Bea", "bea@example.com")
	e.eventually("bea applied", func() bool { return e.registered("before") })
	e.db.Close(ctx)
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	e.publish("during", "Dan", "dan@example.com")
	e.eventually("the event held while Postgres is down", func() bool { return strings.Contains(e.logs.String(), "holding events") })
	if pg, err = embedded.StartPostgres(ctx, embedded.PostgresConfig{Dir: dir, Port: pg.Port(), Fast: true}); err != nil {
		t.Fatal(err)
	}
	if e.db, err = pgx.Connect(ctx, pg.URL("postgres")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Close(context.Background()) })
	e.eventually("dan applied", func() bool { return e.registered("during") })
	if n := len(e.deadLetters()); n != 0 {
		t.Fatalf("%d dead letters, want 0", n)
	}
}

// A network that stops carrying the consumer's traffic for longer than two heartbeats (a partition, a server
// that went away without closing the connection) makes the pull's heartbeats go missing: the consumer pulls
// again and goes on, instead of ending (and the service with it, as it did).
func TestMissedHeartbeatsPullAgain(t *testing.T) {
	e := newStoppedEnv(t, srv.NewDatabase(t))
	proxy := e.bus.Proxy(t)
	cfg := e.config(5)
	cfg.Heartbeat = 500 * time.Millisecond // nats.go's least
	e.run(proxy.JetStream(t), cfg, "")
	e.publish("before", "Bea", "bea@example.com")
	e.eventually("bea applied", func() bool { return e.registered("before") })
	proxy.Hold(3 * time.Second)
	e.eventually("the missed heartbeats noticed", func() bool { return strings.Contains(e.logs.String(), "no heartbeat") })
	e.publish("after", "Al", "al@example.com")
	e.eventually("al applied", func() bool { return e.registered("after") })
}

// syncBuffer is a log sink the consumer writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// An event whose CloudEvent source is not our idp-hook's (another realm's, or anyone's who got to publish on
// events.idp) is dead-lettered on its first delivery with the reason, and never applied.
func TestEventsFromAnotherSourceAreDeadLettered(t *testing.T) {
	e := newEnv(t, 5, "")
	foreign := map[string]string{"other-realm": events.IdPSource("other"), "not-idp-hook": "/not-idp-hook"}
	for id, src := range foreign {
		e.publish(id, "Pat", id+"@example.com", func(ev *cloudevents.Event) { ev.SetSource(src) })
	}
	e.publish("ours", "Erin", "erin@example.com")
	e.eventually("2 dead letters", func() bool { return len(e.deadLetters()) == 2 })
	for _, m := range e.deadLetters() {
		h := m.Header
		if h.Get(bus.HeaderDeadLetterReason) != "unknown_source" || !strings.Contains(h.Get(bus.HeaderDeadLetterError), "not our idp-hook's") {
			t.Errorf("dead letter reason %q error %q, want unknown_source naming the source", h.Get(bus.HeaderDeadLetterReason), h.Get(bus.HeaderDeadLetterError))
		}
	}
	e.eventually("our own event applied", func() bool { return e.registered("ours") })
	for id := range foreign {
		if e.registered(id) {
			t.Errorf("%s was applied", id)
		}
	}
	if got := testutil.ToFloat64(e.metrics.DeadLetters.WithLabelValues("unknown_source")); got != 2 {
		t.Errorf("unknown_source dead letters counted = %v, want 2", got)
	}
}

package relay_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/connectedbbq/platform/pkg/bus"
	"github.com/connectedbbq/platform/pkg/events"
	"github.com/connectedbbq/platform/services/user-service/internal/relay"
	"github.com/connectedbbq/platform/services/user-service/internal/store"
	"github.com/connectedbbq/platform/testing/natstest"
	"github.com/connectedbbq/platform/testing/pgtest"
)

var srv *pgtest.Server

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &srv)) }

// subjects the rows are spread over: order is checked per subject.
var subjects = []string{events.UserCreated.Subject, events.UserUpdated.Subject, events.TenantCreated.Subject}

// env is one test's JetStream and migrated database; relays are started on it with start.
type env struct {
	t     *testing.T
	bus   *natstest.Bus
	dbURL string
	db    *pgxpool.Pool // the test's own pool, to commit outbox rows as the store would
	rows  []row         // committed, in commit (seq) order
}

type row struct{ id, subject string }

func newEnv(t *testing.T) *env {
	t.Helper()
	t.Parallel()
	e := &env{t: t, bus: natstest.New(t), dbURL: srv.NewDatabase(t)}
	if _, err := store.Migrate(context.Background(), e.dbURL); err != nil {
		t.Fatal(err)
	}
	db, err := pgxpool.New(context.Background(), e.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	e.db = db
	return e
}

// relay is a running relay, as one replica of the service runs it: its own store and NATS connection.
type relayRun struct {
	*relay.Relay
	metrics *relay.Metrics
}

// start runs a relay until the test ends; it polls every interval and publishes batch rows at a time.
func (e *env) start(batch int, interval time.Duration) *relayRun {
	e.t.Helper()
	r, stop := e.startStoppable(batch, interval)
	e.t.Cleanup(stop)
	return r
}

// startStoppable is start with a stop that returns once Run has.
func (e *env) startStoppable(batch int, interval time.Duration) (*relayRun, func()) {
	e.t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, e.dbURL, 4)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(s.Close)
	// The connection logs from its own goroutines, also after the test: only the relay's log goes to the test's.
	nc, js, err := bus.Connect(ctx, e.bus.URL, "relay-test", e.bus.Config, 10*time.Second, slog.New(slog.DiscardHandler))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(nc.Close)
	m := relay.NewMetrics(prometheus.NewRegistry())
	r := &relayRun{Relay: relay.New(relay.Config{Batch: batch, Interval: interval}, s, js, slog.New(slog.NewTextHandler(e.t.Output(), nil)), m), metrics: m}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	var once sync.Once
	return r, func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				e.t.Errorf("relay: %v", err)
			}
		})
	}
}

// commit adds n outbox rows in one transaction, spread over the subjects, as the store's announcements do.
func (e *env) commit(n int) {
	e.t.Helper()
	rows := e.insert(n, func(tx pgx.Tx) error { return tx.Commit(context.Background()) })
	e.rows = append(e.rows, rows...)
}

// rollBack adds n outbox rows in a transaction that is rolled back, and returns them: none may ever leave.
func (e *env) rollBack(n int) []row {
	e.t.Helper()
	return e.insert(n, func(tx pgx.Tx) error { return tx.Rollback(context.Background()) })
}

func (e *env) insert(n int, end func(pgx.Tx) error) []row {
	e.t.Helper()
	ctx := context.Background()
	tx, err := e.db.Begin(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	rows := make([]row, n)
	for i := range rows {
		rows[i] = row{id: uuid.Must(uuid.NewV7()).String(), subject: subjects[(len(e.rows)+i)%len(subjects)]}
		if _, err := tx.Exec(ctx, `INSERT INTO outbox (id, subject, event) VALUES ($1, $2, $3)`,
			rows[i].id, rows[i].subject, fmt.Appendf(nil, `{"id":%q}`, rows[i].id)); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := end(tx); err != nil {
		e.t.Fatal(err)
	}
	return rows
}

func (e *env) outboxRows() int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRow(context.Background(), `SELECT count(*) FROM outbox`).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) eventually(what string, ok func() bool) {
	e.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			e.t.Fatalf("not after 20s: %s", what)
		}
	}
}

// published waits until the outbox is empty and every committed row is on the stream.
func (e *env) published() []jetstream.RawStreamMsg {
	e.t.Helper()
	var msgs []jetstream.RawStreamMsg
	e.eventually(fmt.Sprintf("%d rows published and the outbox empty", len(e.rows)), func() bool {
		msgs = e.bus.Messages(e.t, "events.>")
		return len(msgs) >= len(e.rows) && e.outboxRows() == 0
	})
	return msgs
}

// checkOnceInOrder checks that the stream holds each committed row exactly once, with Nats-Msg-Id and data
// of its row, in commit order per subject, and nothing else.
func (e *env) checkOnceInOrder(msgs []jetstream.RawStreamMsg) {
	e.t.Helper()
	if len(msgs) != len(e.rows) {
		e.t.Errorf("%d messages on the stream, want the %d committed rows", len(msgs), len(e.rows))
	}
	want := map[string][]string{} // subject -> ids in commit order
	for _, r := range e.rows {
		want[r.subject] = append(want[r.subject], r.id)
	}
	got := map[string][]string{}
	for _, m := range msgs {
		id := m.Header.Get(jetstream.MsgIDHeader)
		if !bytes.Equal(m.Data, fmt.Appendf(nil, `{"id":%q}`, id)) || m.Header.Get(bus.HeaderContentType) != bus.ContentType {
			e.t.Errorf("message %s: data %s, content type %q: not its row's", id, m.Data, m.Header.Get(bus.HeaderContentType))
		}
		got[m.Subject] = append(got[m.Subject], id)
	}
	for subject, ids := range want {
		if fmt.Sprint(got[subject]) != fmt.Sprint(ids) {
			e.t.Errorf("%s: stream has %d ids %v,\nwant the %d committed, in commit order: %v", subject, len(got[subject]), got[subject], len(ids), ids)
		}
	}
}

// Every committed row reaches the bus exactly once, with Nats-Msg-Id = its id, in commit order per subject,
// over several batches; a rolled-back row never does; and later polls publish nothing again.
func TestCommittedRowsArePublishedOnceInOrder(t *testing.T) {
	e := newEnv(t)
	r := e.start(16, 50*time.Millisecond)
	for range 5 {
		e.commit(20)
		r.Wake()
	}
	gone := e.rollBack(10)
	e.commit(7) // found by the poll: no Wake
	e.checkOnceInOrder(e.published())
	time.Sleep(200 * time.Millisecond) // four more polls
	e.checkOnceInOrder(e.bus.Messages(t, "events.>"))
	for _, m := range e.bus.Messages(t, "events.>") {
		for _, g := range gone {
			if m.Header.Get(jetstream.MsgIDHeader) == g.id {
				t.Errorf("rolled-back row %s was published", g.id)
			}
		}
	}
	if got := testutil.ToFloat64(r.metrics.Published); got != float64(len(e.rows)) {
		t.Errorf("bbq_users_outbox_published_total = %v, want %d: a row was sent twice", got, len(e.rows))
	}
}

// Rows committed while NATS is down wait in the outbox and go out, once each and in order, when it is back.
func TestRowsOutlastANATSOutage(t *testing.T) {
	e := newEnv(t)
	r := e.start(8, 50*time.Millisecond)
	e.commit(12)
	r.Wake()
	e.published()

	e.bus.Stop()
	e.commit(30)
	r.Wake()
	time.Sleep(time.Second) // the relay tries while NATS is down
	if n := e.outboxRows(); n != 30 {
		t.Errorf("%d rows left the outbox while NATS was down, want 0 (30 waiting)", 30-n)
	}
	e.bus.Restart(t)
	e.commit(5)
	e.checkOnceInOrder(e.published())
}

// A relay that publishes but dies before its transaction commits (here: the DELETE fails) leaves the rows;
// they are sent again with the same Nats-Msg-Id, and JetStream stores each once.
func TestRepublishAfterALostCommitStoresEachRowOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.db.Exec(ctx, `CREATE TABLE crash (since timestamptz);
		INSERT INTO crash VALUES (now());
		CREATE FUNCTION crash_before_commit() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF EXISTS (SELECT 1 FROM crash) THEN RAISE EXCEPTION 'the relay died before its commit'; END IF; RETURN OLD; END $$;
		CREATE TRIGGER crash BEFORE DELETE ON outbox FOR EACH ROW EXECUTE FUNCTION crash_before_commit()`); err != nil {
		t.Fatal(err)
	}
	r := e.start(50, 50*time.Millisecond)
	e.commit(20)
	r.Wake()
	e.eventually("the rows published at least once while the commit fails", func() bool {
		return len(e.bus.Messages(t, "events.>")) == 20 && testutil.ToFloat64(r.metrics.Published) >= 40
	})
	if n := e.outboxRows(); n != 20 {
		t.Fatalf("%d rows in the outbox, want all 20 (no commit succeeded)", n)
	}
	if _, err := e.db.Exec(ctx, `DELETE FROM crash`); err != nil {
		t.Fatal(err)
	}
	e.checkOnceInOrder(e.published())
}

// Stopping the relay publishes what is committed by then, without waiting for the next poll.
func TestStopPublishesWhatIsCommitted(t *testing.T) {
	e := newEnv(t)
	_, stop := e.startStoppable(10, time.Hour)
	e.commit(25) // no Wake, and the poll is an hour away
	stop()
	e.checkOnceInOrder(e.published())
}

// Two replicas' relays share the outbox (FOR UPDATE SKIP LOCKED): every row is sent by exactly one of them,
// not once by each and dropped as a duplicate. Order per subject holds only within one relay's batches, so
// it is not checked here.
func TestTwoRelaysSendEachRowOnce(t *testing.T) {
	e := newEnv(t)
	a, b := e.start(5, 20*time.Millisecond), e.start(5, 20*time.Millisecond)
	for range 40 {
		e.commit(5)
		a.Wake()
		b.Wake()
	}
	msgs := e.published()
	if len(msgs) != len(e.rows) {
		t.Errorf("%d messages on the stream, want %d", len(msgs), len(e.rows))
	}
	seen := map[string]bool{}
	for _, m := range msgs {
		seen[m.Header.Get(jetstream.MsgIDHeader)] = true
	}
	for _, r := range e.rows {
		if !seen[r.id] {
			t.Errorf("row %s not published", r.id)
		}
	}
	sentA, sentB := testutil.ToFloat64(a.metrics.Published), testutil.ToFloat64(b.metrics.Published)
	if sentA+sentB != float64(len(e.rows)) {
		t.Errorf("the relays sent %v + %v rows, want %d in all: a row was sent by both", sentA, sentB, len(e.rows))
	}
	t.Logf("relay A sent %v rows, relay B %v", sentA, sentB)
}

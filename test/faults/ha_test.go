package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectedbbq/platform/dev/stack"
	"github.com/connectedbbq/platform/pkg/events"
	"github.com/connectedbbq/platform/pkg/webhook"
	"github.com/connectedbbq/platform/testing/embedded"
	"github.com/connectedbbq/platform/testing/natstest"
)

// haSystem is the pipeline as a highly available install runs it: two replicas of each service, a
// three-node NATS cluster with every stream at three replicas, one Postgres; each process on its own host.
type haSystem struct {
	t     *testing.T
	dir   string
	nats  *natsCluster
	pg    *embedded.Postgres
	pgCfg embedded.PostgresConfig // its directory and port, to start it again on the same data after a kill
	pipes []*stack.Pipeline       // replica i of idp-hook and of user-service
	hooks []string                // the idp-hook replicas' webhook URLs, which the sender balances over
	watch *busWatch
	kc    *keycloakStandIn
	cp    *checkpointWatch
}

// TestHighAvailabilityUnderFaults streams signed sign-ups (REGISTER, VERIFY_EMAIL, then UPDATE_PROFILE: each
// user gets a UserCreated and then a UserUpdated) into the HA pipeline while the stream leader is killed and
// restarted, one replica of each service is killed and restarted, a NATS node is cut off from its peers, and
// Postgres is killed and started again on its data directory.
// It checks from the bus that every user has exactly one UserCreated and that events.users.> keeps each
// subject's order, and from Postgres that every user is active with the latest name. Each fault comes with a
// probe sign-up; the time until its UserCreated is on the bus is the fault's time to recover.
func TestHighAvailabilityUnderFaults(t *testing.T) {
	n := faultUsers(t)
	h := startHA(t)
	faults := h.faults()

	var sent atomic.Int64
	var ended atomic.Bool // the stream of sign-ups is over
	var failed attempts
	begin := time.Now()
	var wg sync.WaitGroup
	jobs := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range jobs {
				h.signUp(fmt.Sprintf("ha%05d", i), &failed)
				sent.Add(1)
			}
		})
	}
	progress := time.NewTicker(15 * time.Second)
	defer progress.Stop()
	go func() {
		for range progress.C {
			t.Logf("progress: %d users sent, %d created, failed webhook attempts %s", sent.Load(), h.watch.createdUsers(), &failed)
		}
	}()
	results := make(chan faultResult, len(faults))
	faultsDone := make(chan struct{})
	go func() {
		defer close(results)
		defer close(faultsDone)
		for sent.Load() < int64(n/10) {
			time.Sleep(10 * time.Millisecond)
		}
		for i, f := range faults {
			results <- h.inject(i, f, &sent, &ended, &failed)
			time.Sleep(time.Second)
		}
	}()
	// Each fault waits for its probe's UserCreated: one slow to recover from must not end the stream before the
	// later faults, so the stream goes on past n until the last fault is over.
	users := feedUntil(jobs, n, 50*time.Second, faultsDone)
	ended.Store(true)
	wg.Wait()
	sentAt := time.Since(begin)
	var done []faultResult
	for r := range results {
		done = append(done, r)
	}
	want := users + len(faults) // the probes are users too
	deadline := time.Now().Add(3 * time.Minute)
	for h.watch.createdUsers() < want && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	converged := time.Since(begin)
	time.Sleep(2 * time.Second) // late duplicates would show now

	evs := h.usersEvents()
	created := map[string]int{}
	updated := 0
	for _, e := range evs {
		switch e.typ {
		case events.UserCreated.Type:
			created[e.subject]++
		case events.UserUpdated.Type:
			updated++
		}
	}
	lost, dup := want-len(created), 0
	for _, c := range created {
		dup += c - 1
	}
	disorder := orderViolations(evs)
	active := h.scalar(`SELECT count(*) FROM users WHERE status = 'active'`)
	renamed := h.scalar(`SELECT count(*) FROM users WHERE status = 'active' AND name = 'Second'`)
	dead := len(natstest.StreamMessages(t, h.nats.js, natstest.Config().DeadLetterStream, ""))
	jobsLeft := h.waitScalar(`SELECT count(*) FROM keycloak_sync`, 0, time.Minute)
	written, writtenTwice := h.kc.writes()
	readers, switches := h.kc.reconcilers()
	taken := h.leasesTaken()
	cpLast, cpUpdates, cpRegress := h.cp.state()
	var recov []string
	for _, r := range done {
		t.Logf("%s", r)
		recov = append(recov, fmt.Sprintf("%s %s", r.short, r.recovered.Round(10*time.Millisecond)))
	}
	summary := fmt.Sprintf("faults (HA: 2 idp-hook, 2 user-service, 3 NATS nodes, streams R3): N=%d users (+%d probes), faults injected %d, "+
		"failed webhook attempts retried %s, all sent after %s, converged after %s; lost %d, duplicated UserCreated %d, "+
		"order violations on events.users.> %d (of %d events, %d UserUpdated), active users %d (latest name %d), dead letters %d; "+
		"write-back: tenants written %d, written twice %d, jobs left %d; reconciler: replicas that read Keycloak %d, "+
		"reader changes %d (leases taken %d), checkpoint updates %d, moved back %d, at %s; "+
		"time to recover (probe sign-up to its UserCreated): %s",
		users, len(faults), len(done), failed.String(), sentAt.Round(time.Millisecond), converged.Round(time.Millisecond),
		lost, dup, disorder, len(evs), updated, active, renamed, dead,
		written, writtenTwice, jobsLeft, readers, switches, taken, cpUpdates, cpRegress, cpLast.UTC().Format("15:04:05.000"),
		strings.Join(recov, ", "))
	t.Log(summary)
	fmt.Println(summary)
	broken := len(done) != len(faults) || lost != 0 || dup != 0 || disorder != 0 || active != want || renamed != want || dead != 0
	if broken || t.Failed() {
		h.diagnose()
	}
	if broken {
		t.Fatal("the HA system lost, duplicated, reordered or dead-lettered events under faults")
	}
	if written != want || writtenTwice != 0 || jobsLeft != 0 {
		t.Fatal("the write-back missed a user, did a job twice, or left jobs")
	}
	// Each lease taken after the first can move the reading to another replica once; two replicas
	// reconciling side by side would interleave their reads every interval.
	if switches > max(taken-1, 0) || cpRegress != 0 || cpUpdates == 0 {
		t.Fatal("the reconciler ran on two replicas at once, or its checkpoint did not only move forward")
	}
}

// haFault is one fault; short names it in the summary.
type haFault struct {
	name, short string
	do          func() error
}

type faultResult struct {
	name, short string
	from, to    int64         // users sent when it began and ended
	took        time.Duration // the fault itself
	recovered   time.Duration // from its start to the probe's UserCreated on the bus
	note        string
}

func (r faultResult) String() string {
	return fmt.Sprintf("%s: from %d to %d users sent, took %s, probe's UserCreated after %s %s", r.name, r.from, r.to,
		r.took.Round(time.Millisecond), r.recovered.Round(time.Millisecond), r.note)
}

func (h *haSystem) faults() []haFault {
	stream := natstest.Config().Stream
	killLeader := func() error {
		n, err := h.nats.streamLeader(stream)
		if err != nil {
			return err
		}
		h.t.Logf("stream leader: %s", n.name)
		n.proc.Kill()
		time.Sleep(time.Second)
		return restart(n.proc)
	}
	partitionLeader := func() error {
		n, err := h.nats.streamLeader(stream)
		if err != nil {
			return err
		}
		h.t.Logf("stream leader, to be cut off: %s", n.name)
		return h.nats.isolate(n, 5*time.Second)
	}
	// As a crash of its machine: the server and its backends at once, then the same data directory and port,
	// so both user-service replicas' pools reconnect to the database they had (WAL replay on start-up).
	killPostgres := func() error {
		h.pg.Kill()
		time.Sleep(time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		pg, err := embedded.StartPostgres(ctx, h.pgCfg)
		if err != nil {
			return fmt.Errorf("restart Postgres: %w", err)
		}
		h.pg = pg
		return nil
	}
	kill := func(p *stack.Process) func() error {
		return func() error {
			p.Kill()
			time.Sleep(time.Second)
			return restart(p)
		}
	}
	// The reconciler's leader first, then the other replica (by then, likely the new leader).
	var leader *stack.Process
	killReconciler := func() error {
		var err error
		if leader, err = h.reconcilingHook(); err != nil {
			return err
		}
		return kill(leader)()
	}
	killOther := func() error {
		for _, p := range h.pipes {
			if p.IdPHook != leader {
				return kill(p.IdPHook)()
			}
		}
		return nil
	}
	return []haFault{
		{"kill -9 the stream leader's NATS node, restart it after 1 s", "kill NATS leader", killLeader},
		{"kill -9 user-service replica 1", "kill user-service 1", kill(h.pipes[0].UserService)},
		{"kill -9 the idp-hook replica that reconciles (the lease holder)", "kill reconciling idp-hook", killReconciler},
		{"partition the stream leader's NATS node from the other two for 5 s", "partition NATS leader", partitionLeader},
		{"kill -9 Postgres (server and backends), restart it on its data directory after 1 s", "kill Postgres", killPostgres},
		{"kill -9 user-service replica 2", "kill user-service 2", kill(h.pipes[1].UserService)},
		{"kill -9 the other idp-hook replica", "kill other idp-hook", killOther},
	}
}

// inject runs fault i with a probe sign-up sent as it begins, and waits for the cluster to be whole again.
func (h *haSystem) inject(i int, f haFault, sent *atomic.Int64, ended *atomic.Bool, failed *attempts) faultResult {
	r := faultResult{name: f.name, short: f.short, from: sent.Load()}
	start := time.Now()
	probe := fmt.Sprintf("probe%02d", i)
	go h.signUp(probe, failed)
	if err := f.do(); err != nil {
		h.t.Errorf("%s: %v", f.name, err)
	}
	r.took = time.Since(start)
	r.note = h.nats.waitCurrent(natstest.Config().Stream, start, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if at, ok := h.watch.waitCreated(ctx, probe); ok {
		r.recovered = at.Sub(start)
	} else {
		h.t.Errorf("%s: the probe's UserCreated never came", f.name)
	}
	// While the stream leader is cut off no sign-up may complete: the senders retry; what matters is that the stream
	// had not ended.
	if r.to = sent.Load(); ended.Load() {
		h.t.Errorf("the stream ended before %q did: it met no traffic", f.name)
	}
	r.note += fmt.Sprintf(" (failed webhook attempts so far %s)", failed)
	return r
}

// signUp sends one user's REGISTER, VERIFY_EMAIL and UPDATE_PROFILE, each until a replica accepts it.
func (h *haSystem) signUp(user string, failed *attempts) {
	email := user + "@example.com"
	for _, typ := range []string{"REGISTER", "VERIFY_EMAIL", "UPDATE_PROFILE"} {
		body := providerEvent(typ, user, email, true)
		h.kc.record(h.t, body, email)
		send(h.hooks, typ, user, body, failed)
	}
}

func startHA(t *testing.T) *haSystem {
	t.Helper()
	dir, err := os.MkdirTemp("", "faults-ha-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // Postgres runs as its own user when the tests run as root
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bins, err := stack.Build(ctx, filepath.Join(dir, "bin"), "idp-hook", "user-service", "nats-server")
	if err != nil {
		t.Fatal(err)
	}
	lan, err := stack.NewNetwork(ctx, "bbq-ha", netip.MustParsePrefix("10.214.0.1/24"))
	if err != nil {
		t.Fatalf("network namespaces (root, iproute2 and iptables needed): %v", err)
	}
	t.Cleanup(func() {
		if err := lan.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	hosts := make([]*stack.Host, 7) // 3 NATS nodes, then idp-hook and user-service of each replica
	for i := range hosts {
		if hosts[i], err = lan.AddHost(ctx); err != nil {
			t.Fatal(err)
		}
	}
	h := &haSystem{t: t, dir: dir}
	cfg := natstest.Config()
	cfg.Replicas = 3
	h.nats = startNATSCluster(ctx, t, bins["nats-server"], dir, hosts[:3], cfg)
	h.watch = watchUsersCreated(t, h.nats.js)
	h.kc = startKeycloakStandIn(t, lan.Addr())
	h.pgCfg = embedded.PostgresConfig{Dir: filepath.Join(dir, "pg"), Network: lan.Prefix()}
	if h.pg, err = embedded.StartPostgres(ctx, h.pgCfg); err != nil {
		t.Fatal(err)
	}
	h.pgCfg.Port = h.pg.Port()
	t.Cleanup(func() { _ = h.pg.Stop() })
	pgURL, err := url.Parse(h.pg.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	pgURL.Host = netip.AddrPortFrom(lan.Addr(), uint16(h.pg.Port())).String()
	for i := range 2 {
		h.startReplica(ctx, i, bins, pgURL.String(), hosts[3+2*i], hosts[4+2*i])
	}
	h.cp = watchCheckpoint(t, h.nats.js)
	return h
}

// startReplica starts replica i of idp-hook (on hook) and of user-service (on us).
func (h *haSystem) startReplica(ctx context.Context, i int, bins map[string]string, dbURL string, hook, us *stack.Host) {
	t := h.t
	dir := filepath.Join(h.dir, fmt.Sprintf("replica-%d", i+1))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := stack.PipelineConfig{Bins: bins, Dir: dir, OIDCIssuer: "http://127.0.0.1:1/realms/faults",
		WebhookSecrets: webhook.FormatSecret(secretKey), AdminToken: "faults-admin-token-0123456789",
		NATSURL: h.nats.URLs(), DatabaseURL: dbURL,
		UserServiceEnv: map[string]string{"CONSUMER_ACK_WAIT": "3s", "BUS_REPLICAS": "3",
			"KEYCLOAK_URL": h.kc.URL, "KEYCLOAK_CLIENT_SECRET": "stand-in", "PENDING_SWEEP_AFTER": "0", "WRITEBACK_LEASE": "10s"},
		IdPHookEnv: map[string]string{"PUBLISH_TIMEOUT": "5s", "RETRY_AFTER": "1s", "BUS_REPLICAS": "3",
			"KEYCLOAK_URL": h.kc.URL, "KEYCLOAK_CLIENT_SECRET": "stand-in",
			"RECONCILE_INTERVAL": "2s", "RECONCILE_OVERLAP": "15s", "RECONCILE_SETTLE": "5s", "RECONCILE_LEASE_TTL": "3s"},
		IdPHookNetns: hook.Netns, UserServiceNetns: us.Netns,
		HookAddr: netip.AddrPortFrom(hook.IP, 8080).String(), HookOpsAddr: netip.AddrPortFrom(hook.IP, 9090).String(),
		APIAddr: netip.AddrPortFrom(us.IP, 8080).String(), AdminAddr: netip.AddrPortFrom(us.IP, 8081).String(),
		UserServiceOpsAddr: netip.AddrPortFrom(us.IP, 9090).String()}
	p, err := stack.StartPipeline(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.pipes = append(h.pipes, p)
	h.hooks = append(h.hooks, p.IdPHookURL)
	t.Cleanup(func() {
		_ = p.Stop()
		if t.Failed() {
			logServiceTails(t, dir, fmt.Sprintf("replica %d ", i+1))
		}
	})
}

func (h *haSystem) scalar(sql string) int {
	h.t.Helper()
	return scalarIn(h.t, h.pg, sql)
}

// busEvent is one event of events.users.>, in stream order.
type busEvent struct{ typ, subject string }

// usersEvents reads events.users.> from the start with an ordered consumer (a stream of this size is too
// long to read message by message).
func (h *haSystem) usersEvents() []busEvent {
	t := h.t
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := h.nats.js.OrderedConsumer(ctx, natstest.Config().Stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{events.UsersSubjects}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []busEvent
	// A pull on a consumer just created in the cluster can meet "no responders" while its interest spreads over
	// the routes; the ordered consumer goes on from where it was, so a failed fetch is tried again.
	for pending, tries := info.NumPending, 0; pending > 0; {
		batch, err := c.Fetch(1000, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			out = append(out, decodeBusEvent(t, m.Data()))
			md, err := m.Metadata()
			if err != nil {
				t.Fatal(err)
			}
			pending = md.NumPending
		}
		if batch.Error() != nil || got == 0 {
			if tries++; tries == 5 {
				t.Fatalf("read events.users.>: %v (%d read, %d pending)", batch.Error(), len(out), pending)
			}
			t.Logf("read events.users.>: %v (%d read, %d pending); trying again", batch.Error(), len(out), pending)
			time.Sleep(500 * time.Millisecond)
		}
	}
	return out
}

func decodeBusEvent(t *testing.T, data []byte) busEvent {
	d, err := events.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return busEvent{typ: d.Event.Type(), subject: d.Event.Subject()}
}

// orderViolations counts events stored before the Created event of their subject (a user's UserCreated,
// a tenant's TenantCreated): what a consumer reading events.users.> in order would see out of order.
func orderViolations(evs []busEvent) int {
	creates := map[string]bool{events.UserCreated.Type: true, events.TenantCreated.Type: true}
	hasCreate := map[string]bool{}
	for _, e := range evs {
		if creates[e.typ] {
			hasCreate[e.subject] = true
		}
	}
	created, bad := map[string]bool{}, 0
	for _, e := range evs {
		switch {
		case creates[e.typ]:
			created[e.subject] = true
		case hasCreate[e.subject] && !created[e.subject]:
			bad++
		}
	}
	return bad
}

// busWatch follows UserCreated live, to time each fault's probe.
type busWatch struct {
	mu      sync.Mutex
	created map[string]time.Time // user id -> when its first UserCreated was seen
}

func watchUsersCreated(t *testing.T, js jetstream.JetStream) *busWatch {
	t.Helper()
	w := &busWatch{created: map[string]time.Time{}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := js.OrderedConsumer(ctx, natstest.Config().Stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{events.UserCreated.Subject}})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := c.Consume(func(m jetstream.Msg) {
		d, err := events.Decode(m.Data())
		if err != nil {
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if _, ok := w.created[d.Event.Subject()]; !ok {
			w.created[d.Event.Subject()] = time.Now()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return w
}

func (w *busWatch) createdUsers() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.created)
}

// waitCreated waits for user's UserCreated and says when it was seen.
func (w *busWatch) waitCreated(ctx context.Context, user string) (time.Time, bool) {
	for {
		w.mu.Lock()
		at, ok := w.created[user]
		w.mu.Unlock()
		if ok {
			return at, true
		}
		select {
		case <-ctx.Done():
			return time.Time{}, false
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// diagnose logs where events stopped: the consumers' positions, the services that exited, the users' states.
func (h *haSystem) diagnose() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := h.nats.js.Stream(ctx, natstest.Config().Stream)
	if err != nil {
		h.t.Logf("diagnose: %v", err)
		return
	}
	if info, err := s.Info(ctx); err == nil {
		h.t.Logf("stream: %+v cluster %+v", info.State, info.Cluster)
	}
	for name := range s.ConsumerNames(ctx).Name() {
		c, err := s.Consumer(ctx, name)
		if err != nil {
			continue
		}
		i, err := c.Info(ctx)
		if err != nil {
			continue
		}
		h.t.Logf("consumer %s: pending %d, ack pending %d, redelivered %d, waiting %d, delivered %d, ack floor %d, cluster %+v",
			name, i.NumPending, i.NumAckPending, i.NumRedelivered, i.NumWaiting, i.Delivered.Stream, i.AckFloor.Stream, i.Cluster)
	}
	for i, p := range h.pipes {
		for _, proc := range []*stack.Process{p.IdPHook, p.UserService} {
			if !proc.Running() {
				h.t.Logf("%s of replica %d has exited; the end of its log:\n%s", proc.Name, i+1, proc.Tail(20))
			}
		}
	}
	h.t.Logf("users pending %d, active %d; outbox rows %d", h.scalar(`SELECT count(*) FROM users WHERE status = 'pending'`),
		h.scalar(`SELECT count(*) FROM users WHERE status = 'active'`), h.scalar(`SELECT count(*) FROM outbox`))
}

// checkpointWatch follows the reconciler's checkpoint of the stored user events and counts the times it
// went back.
type checkpointWatch struct {
	mu               sync.Mutex
	last             int64 // unix ms of the newest checkpoint seen
	updates, regress int
}

func watchCheckpoint(t *testing.T, js jetstream.JetStream) *checkpointWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	kv, err := js.KeyValue(ctx, "idp-hook")
	if err != nil {
		t.Fatalf("the reconciler's checkpoint bucket: %v", err)
	}
	w, err := kv.Watch(ctx, "events.bbq", jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	c := &checkpointWatch{}
	go func() {
		for e := range w.Updates() {
			var cp struct {
				Time int64 `json:"time"`
			}
			if e == nil || json.Unmarshal(e.Value(), &cp) != nil {
				continue
			}
			c.mu.Lock()
			c.updates++
			if cp.Time < c.last {
				c.regress++
			}
			c.last = max(c.last, cp.Time)
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *checkpointWatch) state() (last time.Time, updates, regress int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.UnixMilli(c.last), c.updates, c.regress
}

// reconcilingHook is the idp-hook replica holding the reconciler's lease (its holder name ends in the pid).
// After a NATS fault the lease may be vacant for up to its TTL: wait for a holder.
func (h *haSystem) reconcilingHook() (*stack.Process, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	for {
		p, err := h.leaseHolder(ctx)
		if err == nil {
			return p, nil
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (h *haSystem) leaseHolder(ctx context.Context) (*stack.Process, error) {
	kv, err := h.nats.js.KeyValue(ctx, "idp-hook-leases")
	if err != nil {
		return nil, fmt.Errorf("lease bucket: %w", err)
	}
	e, err := kv.Get(ctx, "reconciler")
	if err != nil {
		return nil, fmt.Errorf("reconciler lease: %w", err)
	}
	for _, p := range h.pipes {
		if strings.HasSuffix(string(e.Value()), fmt.Sprintf("-%d", p.IdPHook.Pid())) {
			return p.IdPHook, nil
		}
	}
	return nil, fmt.Errorf("no idp-hook replica holds the lease (%q)", e.Value())
}

// waitScalar polls sql until it returns want or limit passes, and returns the last value.
func (h *haSystem) waitScalar(sql string, want int, limit time.Duration) int {
	deadline := time.Now().Add(limit)
	for {
		got := h.scalar(sql)
		if got == want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// leasesTaken counts the reconciler leases the idp-hook replicas took, from their logs.
func (h *haSystem) leasesTaken() int {
	n := 0
	for i := range h.pipes {
		b, err := os.ReadFile(filepath.Join(h.dir, fmt.Sprintf("replica-%d", i+1), "idp-hook.log"))
		if err != nil {
			h.t.Error(err)
		}
		n += strings.Count(string(b), `"msg":"lease taken"`)
	}
	return n
}

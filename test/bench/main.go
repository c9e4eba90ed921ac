// Command bbq-bench measures the pipeline (`make bench`): signed registrations and verifications
// pushed through idp-hook into user-service, timed from the accepted webhook to UserCreated on the
// bus, beside the raw JetStream publish rate and the raw Postgres insert rate of the same run.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectedbbq/platform/dev/stack"
	"github.com/connectedbbq/platform/pkg/events"
	"github.com/connectedbbq/platform/pkg/webhook"
	"github.com/connectedbbq/platform/testing/embedded"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bbq-bench:", err)
		os.Exit(1)
	}
}

type options struct {
	users       int
	concurrency int
	rate        int
	rateFor     time.Duration
	rawN        int
	out         string
	soak        time.Duration
	soakRate    int
	rampStep    time.Duration
	backfill    int
	reuseRealm  string
	backfillPg  int
	outage      int
	outageEnv   string
	serviceEnv  string
	only        string
	feel        feelOptions
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("bbq-bench", flag.ContinueOnError)
	fs.IntVar(&o.users, "users", 5000, "users pushed at full speed")
	fs.IntVar(&o.concurrency, "concurrency", 64, "concurrent webhook senders at full speed")
	fs.IntVar(&o.rate, "rate", 500, "users per second in the fixed-rate run")
	fs.DurationVar(&o.rateFor, "rate-for", 10*time.Second, "length of the fixed-rate run")
	fs.IntVar(&o.rawN, "raw", 20000, "messages and rows in the raw JetStream and Postgres runs")
	fs.StringVar(&o.out, "out", "", "write the results as markdown into this file's generated section")
	fs.DurationVar(&o.soak, "soak", 0, "length of the soak at -soak-rate (0: no soak)")
	fs.IntVar(&o.soakRate, "soak-rate", 300, "users per second during the soak")
	fs.DurationVar(&o.rampStep, "ramp-step", 10*time.Second, "time at each rate of the sustainable-rate search (0: no search)")
	fs.IntVar(&o.backfill, "backfill", 100000, "users adopted from a real Keycloak by idp-hook backfill (0: no backfill stage)")
	fs.IntVar(&o.backfillPg, "backfill-page", 0, "users per list request of idp-hook backfill (its -page; 0: its default)")
	fs.StringVar(&o.reuseRealm, "backfill-realm", "", "backfill an existing realm of KCTEST_URL's Keycloak with -backfill users (no import)")
	fs.IntVar(&o.outage, "outage", 10000, "users created in Keycloak while idp-hook is down, caught up by its reconciler (0: no outage stage)")
	fs.StringVar(&o.outageEnv, "outage-env", "", "extra environment of the reconciling idp-hook, e.g. RECONCILE_OVERLAP=10s (comma-separated)")
	fs.StringVar(&o.serviceEnv, "service-env", "", "extra environment of the pipeline's idp-hook and user-service, e.g. GOMAXPROCS=1 (comma-separated)")
	fs.StringVar(&o.only, "only", "", `"backfill" or "keycloak": only raw JetStream, full speed (for the ratios) and the Keycloak stages (backfill, outage); "feel": only the stages on the local system (Keycloak CPU share, latency a person feels)`)
	feelFlags(fs, &o.feel)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.only == "feel" {
		return feelStage(ctx, o, out)
	}
	env, err := startEnv(ctx, envList(o.serviceEnv), o.reuseRealm)
	if err != nil {
		return err
	}
	defer env.stop()

	var r results
	r.machine = machine()
	fmt.Fprintln(out, "raw JetStream publish…")
	if r.jsSync, r.jsAsync, err = rawJetStream(ctx, env.js, o.rawN); err != nil {
		return err
	}
	if o.only == "" {
		fmt.Fprintln(out, "raw Postgres insert…")
		if r.pgInsert, err = rawPostgres(ctx, env.pg.URL("raw"), o.rawN); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "full speed: %d users, %d senders…\n", o.users, o.concurrency)
	if r.full, err = env.push(ctx, "f", o.users, o.concurrency, 0); err != nil {
		return err
	}
	if o.only == "" {
		if err := r.quarterRate(ctx, env, o.rateFor, o.concurrency, out); err != nil {
			return err
		}
		if err := r.latencyStages(ctx, env, o, out); err != nil {
			return err
		}
		r.memHook, r.memUsers = peakRSS(env.p.IdPHook.Pid()), peakRSS(env.p.UserService.Pid())
	}
	// Last of the pipeline's stages: they add the backfill's and the outage's users (110,000 by default), whose
	// rows the latency stages should not run on.
	if err := r.keycloakStages(ctx, env, o, out); err != nil {
		return err
	}
	if o.only != "" {
		return nil
	}
	feelErr := feelStage(ctx, o, out) // its own section: the pipeline's report is written even if it fails
	report := r.markdown(o)
	fmt.Fprintln(out, report)
	if o.out != "" {
		return errors.Join(writeSection(o.out, report), feelErr)
	}
	return feelErr
}

// latencyStages are the fixed rate, the sustainable-rate search and the soak.
func (r *results) latencyStages(ctx context.Context, env *benchEnv, o options, out io.Writer) error {
	var err error
	n := int(float64(o.rate) * o.rateFor.Seconds())
	fmt.Fprintf(out, "fixed rate: %d users/s for %s…\n", o.rate, o.rateFor)
	if r.fixed, err = env.push(ctx, "r", n, o.concurrency, o.rate); err != nil {
		return err
	}
	if o.rampStep > 0 {
		fmt.Fprintln(out, "searching the sustainable rate…")
		if r.ramp, r.sustainable, err = env.ramp(ctx, []int{250, 500, 750, 1000, 1500, 2000, 3000}, o.rampStep, o.concurrency); err != nil {
			return err
		}
	}
	if o.soak > 0 {
		fmt.Fprintf(out, "soak: %d users/s for %s…\n", o.soakRate, o.soak)
		s, err := env.soak(ctx, o.soakRate, o.soak, o.concurrency)
		if err != nil {
			return err
		}
		r.soak = &s
	}
	return nil
}

// benchEnv is the system under test.
type benchEnv struct {
	dir    string
	pg     *embedded.Postgres
	nc     *nats.Conn
	js     jetstream.JetStream
	stopNS func()
	p      *stack.Pipeline
	secret webhook.Secret
	client *http.Client
	bins   map[string]string
}

// envList reads "K=V,K2=V2" (a flag's value) as an environment.
func envList(s string) map[string]string {
	env := map[string]string{}
	for kv := range strings.SplitSeq(s, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

// startEnv starts the system; user-service takes the events of the pipeline's realm (bbq) and of the Keycloak
// stages' realms, besides extraRealms (EVENT_SOURCES), and dead-letters any other as unknown_source.
func startEnv(ctx context.Context, serviceEnv map[string]string, extraRealms ...string) (*benchEnv, error) {
	dir, err := os.MkdirTemp("", "bbq-bench-")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	e := &benchEnv{dir: dir, secret: []byte("bench-webhook-secret-0123456789abcdef"),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 30 * time.Second}}
	ns, err := embedded.StartNATS(embedded.NATSConfig{Dir: filepath.Join(dir, "nats")})
	if err != nil {
		return nil, err
	}
	e.stopNS = ns.Shutdown
	// Durable Postgres (fsync on), as in production.
	if e.pg, err = embedded.StartPostgres(ctx, embedded.PostgresConfig{Dir: filepath.Join(dir, "pg")}); err != nil {
		return nil, err
	}
	for _, db := range []string{"users", "raw"} {
		if err := exec(ctx, e.pg.URL("postgres"), "CREATE DATABASE "+db); err != nil {
			return nil, err
		}
	}
	if e.nc, err = nats.Connect(ns.ClientURL()); err != nil {
		return nil, err
	}
	if e.js, err = jetstream.New(e.nc); err != nil {
		return nil, err
	}
	bins, err := stack.Build(ctx, filepath.Join(dir, "bin"), "idp-hook", "user-service")
	if err != nil {
		return nil, err
	}
	e.bins = bins
	hookEnv := map[string]string{"LOG_LEVEL": "warn"}
	usEnv := map[string]string{"LOG_LEVEL": "warn", "EVENT_SOURCES": eventSources(extraRealms)}
	maps.Copy(hookEnv, serviceEnv)
	maps.Copy(usEnv, serviceEnv)
	e.p, err = stack.StartPipeline(ctx, stack.PipelineConfig{Bins: bins, Dir: dir, NATSURL: ns.ClientURL(),
		DatabaseURL: e.pg.URL("users"), OIDCIssuer: "http://127.0.0.1:1/realms/bench", WebhookSecrets: webhook.FormatSecret(e.secret),
		AdminToken: "bench-admin-token-0123456789", IdPHookEnv: hookEnv, UserServiceEnv: usEnv})
	return e, err
}

func eventSources(extraRealms []string) string {
	sources := []string{events.IdPSource("bbq"), events.IdPSource(outageRealm), events.IdPSource(backfillRealm)}
	for _, r := range extraRealms {
		if r != "" {
			sources = append(sources, events.IdPSource(r))
		}
	}
	return strings.Join(sources, ",")
}

func (e *benchEnv) stop() {
	if e.p != nil {
		_ = e.p.Stop()
	}
	if e.nc != nil {
		e.nc.Close()
	}
	if e.stopNS != nil {
		e.stopNS()
	}
	if e.pg != nil {
		_ = e.pg.Stop()
	}
	os.RemoveAll(e.dir)
}

func exec(ctx context.Context, url, sql string) error {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	_, err = pool.Exec(ctx, sql)
	return err
}

// run is one push of users through the pipeline.
type pushResult struct {
	users          int
	webhooks       int
	sendTime       time.Duration // all webhooks accepted
	e2eTime        time.Duration // first send to last UserCreated
	p50, p99, p999 time.Duration // verification accepted -> UserCreated received
	// The same latency in two parts, at the time UserCreated carries (user-service's, once it has read and
	// locked the user): the consumer's part (stream -> transaction) and the rest (commit, relay, delivery).
	applyP50, applyP99, relayP50, relayP99 time.Duration
	// The p99 of each second of sending (by the time each verification was accepted), in order: the median
	// second's and the worst second's tell a steady latency from a stall that a few seconds had.
	secondP99s      []time.Duration
	offeredRate     int
	failedResponses int64
}

// push signs up n users: REGISTER then VERIFY_EMAIL for each, by conc senders, at rate users/s
// (0 = as fast as possible), and waits for every UserCreated.
func (e *benchEnv) push(ctx context.Context, prefix string, n, conc, rate int) (pushResult, error) {
	return e.pushCounting(ctx, prefix, n, conc, rate, func() {})
}

// pushCounting is push, calling onCreated for every UserCreated.
func (e *benchEnv) pushCounting(ctx context.Context, prefix string, n, conc, rate int, onCreated func()) (pushResult, error) {
	accepted := make([]time.Time, n)
	created := make([]time.Time, n)
	announced := make([]time.Time, n)
	var seen atomic.Int64
	done := make(chan struct{})
	sub, err := e.nc.Subscribe(events.UserCreated.Subject, func(m *nats.Msg) {
		now := time.Now()
		d, err := events.Decode(m.Data)
		if err != nil {
			return
		}
		id, ok := strings.CutPrefix(d.Event.Subject(), prefix+"-")
		if !ok {
			return
		}
		i, _ := strconv.Atoi(id)
		if created[i].IsZero() {
			created[i], announced[i] = now, d.Event.Time()
			onCreated()
			if seen.Add(1) == int64(n) {
				close(done)
			}
		}
	})
	if err != nil {
		return pushResult{}, err
	}
	defer sub.Unsubscribe() //nolint:errcheck // the connection closes anyway

	var failed atomic.Int64
	jobs := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for i := range jobs {
				user := fmt.Sprintf("%s-%d", prefix, i)
				email := user + "@bench.example"
				if !e.send(ctx, "REGISTER", user, email) || !e.send(ctx, "VERIFY_EMAIL", user, email) {
					failed.Add(1)
				}
				accepted[i] = time.Now()
			}
		})
	}
	for i := range n {
		if rate > 0 {
			if wait := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); wait > 0 {
				time.Sleep(wait)
			}
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	sendTime := time.Since(start)
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		return pushResult{}, fmt.Errorf("only %d of %d UserCreated after 5 minutes", seen.Load(), n)
	case <-ctx.Done():
		return pushResult{}, ctx.Err()
	}
	last := slices.MaxFunc(created, func(a, b time.Time) int { return a.Compare(b) })
	lat, apply, relay := latencies(accepted, created), latencies(accepted, announced), latencies(announced, created)
	return pushResult{users: n, webhooks: 2 * n, sendTime: sendTime, e2eTime: last.Sub(start), p50: lat(0.50), p99: lat(0.99), p999: lat(0.999),
		applyP50: apply(0.50), applyP99: apply(0.99), relayP50: relay(0.50), relayP99: relay(0.99),
		secondP99s: perSecondP99(start, accepted, created), offeredRate: rate, failedResponses: failed.Load()}, nil
}

// perSecondP99 groups users by the second of the run their verification was accepted in and returns each
// second's p99 latency, in order (a second without users is left out).
func perSecondP99(start time.Time, accepted, created []time.Time) []time.Duration {
	var seconds [][]int // users by second of the run
	for i, t := range accepted {
		s := max(int(t.Sub(start)/time.Second), 0)
		for len(seconds) <= s {
			seconds = append(seconds, nil)
		}
		seconds[s] = append(seconds[s], i)
	}
	var p99s []time.Duration
	for _, users := range seconds {
		if len(users) > 0 {
			from, to := make([]time.Time, len(users)), make([]time.Time, len(users))
			for j, i := range users {
				from[j], to[j] = accepted[i], created[i]
			}
			p99s = append(p99s, latencies(from, to)(0.99))
		}
	}
	return p99s
}

// medianAndWorst of per-second figures (0, 0 for none).
func medianAndWorst(ds []time.Duration) (median, worst time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	sorted := slices.Sorted(slices.Values(ds))
	return sorted[len(sorted)/2], sorted[len(sorted)-1]
}

// latencies returns the quantiles of to[i] - from[i] (negative ones, from clocks a little apart, count as 0).
func latencies(from, to []time.Time) func(p float64) time.Duration {
	lat := make([]time.Duration, len(from))
	for i := range from {
		lat[i] = max(to[i].Sub(from[i]), 0)
	}
	slices.Sort(lat)
	return func(p float64) time.Duration { return lat[min(int(p*float64(len(lat))), len(lat)-1)] }
}

func (e *benchEnv) send(ctx context.Context, typ, user, email string) bool {
	details := map[string]string{"email": email}
	if typ == "REGISTER" {
		details = map[string]string{"register_method": "form", "username": email, "email": email, "first_name": "Bench"}
	}
	body, _ := json.Marshal(map[string]any{"id": typ + "-" + user, "time": time.Now().UnixMilli(), "type": typ,
		"realmId": "bbq", "realmName": "bbq", "clientId": "dashboard", "userId": user, "details": details})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.p.IdPHookURL+"/webhooks/keycloak/events", bytes.NewReader(body))
	if err != nil {
		return false
	}
	webhook.SignRequest(req.Header, []webhook.Secret{e.secret}, "wh-"+typ+"-"+user, time.Now(), body)
	resp, err := e.client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusAccepted
}

// rawJetStream measures publishing CloudEvent-sized messages with dedup ids to a file stream:
// one at a time (as idp-hook does per request) and asynchronously (as the relay does).
func rawJetStream(ctx context.Context, js jetstream.JetStream, n int) (syncRate, asyncRate float64, err error) {
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "RAW", Subjects: []string{"raw.>"}, Storage: jetstream.FileStorage, Duplicates: 10 * time.Minute}); err != nil {
		return 0, 0, err
	}
	payload := bytes.Repeat([]byte("x"), 600)
	const senders = 64
	start := time.Now()
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for w := range senders {
		wg.Go(func() {
			for i := w; i < n; i += senders {
				if _, err := js.Publish(ctx, "raw.sync", payload, jetstream.WithMsgID("s"+strconv.Itoa(i))); err != nil {
					firstErr.CompareAndSwap(nil, err)
				}
			}
		})
	}
	wg.Wait()
	if e, ok := firstErr.Load().(error); ok {
		return 0, 0, e
	}
	syncRate = float64(n) / time.Since(start).Seconds()
	start = time.Now()
	for i := range n {
		// A loaded machine can take longer than the default 200 ms to free a slot of the async window.
		if _, err := js.PublishAsync("raw.async", payload, jetstream.WithMsgID("a"+strconv.Itoa(i)), jetstream.WithStallWait(30*time.Second)); err != nil {
			return 0, 0, err
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		return 0, 0, fmt.Errorf("async publishes not acknowledged in a minute")
	}
	return syncRate, float64(n) / time.Since(start).Seconds(), nil
}

// rawPostgres measures single-row insert transactions from 16 connections, as the consumer does.
func rawPostgres(ctx context.Context, url string, n int) (float64, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return 0, err
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `CREATE TABLE raw (id text PRIMARY KEY, body text NOT NULL)`); err != nil {
		return 0, err
	}
	const conns = 16
	start := time.Now()
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for w := range conns {
		wg.Go(func() {
			for i := w; i < n; i += conns {
				if _, err := pool.Exec(ctx, `INSERT INTO raw (id, body) VALUES ($1, $2)`, strconv.Itoa(i), "user@example.com"); err != nil {
					firstErr.CompareAndSwap(nil, err)
				}
			}
		})
	}
	wg.Wait()
	if e, ok := firstErr.Load().(error); ok {
		return 0, e
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// peakRSS is the process's high-water resident memory (VmHWM) in MiB.
func peakRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%d cores (%s), %s, %s", runtime.NumCPU(), model, runtime.Version(), time.Now().UTC().Format("2006-01-02"))
}

type results struct {
	machine         string
	jsSync, jsAsync float64
	pgInsert        float64
	full, fixed     pushResult
	quarter         *pushResult // at a quarter of the full-speed rate
	// The raw floor at the quarter rate: single-row commits and publishes, one at a time (rawlatency.go).
	quarterPG, quarterJS *rawLatency
	memHook, memUsers    float64
	ramp                 []rampStep
	sustainable          int
	soak                 *soakResult
	backfill             *backfillResult
	outage               *outageResult
}

func (r results) markdown(o options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Machine: %s. Command: `make bench` (`go run ./test/bench`).\n", r.machine)
	fmt.Fprintf(&b, "Everything on this one machine: NATS in the bench process (file storage), Postgres 15 with fsync on, idp-hook and user-service as processes.\n")
	fmt.Fprintf(&b, "Load average at the end (1, 5, 15 min): %s.\n\n", loadAverage())
	fmt.Fprintf(&b, "| Measure | Result |\n|---|---|\n")
	fmt.Fprintf(&b, "| Raw JetStream publish, one at a time from 64 goroutines (dedup id, file storage) | %.0f msg/s |\n", r.jsSync)
	fmt.Fprintf(&b, "| Raw JetStream publish, async | %.0f msg/s |\n", r.jsAsync)
	fmt.Fprintf(&b, "| Raw Postgres single-row insert transactions, 16 connections | %.0f rows/s |\n", r.pgInsert)
	f := r.full
	fmt.Fprintf(&b, "| Webhooks accepted at full speed (%d users, %d senders) | %.0f webhooks/s |\n", f.users, o.concurrency, float64(f.webhooks)/f.sendTime.Seconds())
	fmt.Fprintf(&b, "| End-to-end at full speed (first webhook → last UserCreated) | %.0f users/s |\n", float64(f.users)/f.e2eTime.Seconds())
	fmt.Fprintf(&b, "| Latency at full speed, verification accepted → UserCreated (p50 / p99 / p99.9) | %s / %s / %s |\n", ms(f.p50), ms(f.p99), ms(f.p999))
	if r.pgInsert > 0 {
		fmt.Fprintf(&b, "| End to end ÷ raw Postgres transactions (target ≥ %.1f) | %.2f |\n", targetPostgresRatio, f.rate()/r.pgInsert)
	}
	if q := r.quarter; q != nil {
		fmt.Fprintf(&b, "| Latency at a quarter of full speed, %d users/s for %d users (p50 / p99 / p99.9; target p99 < %s) | %s / %s / %s |\n",
			q.offeredRate, q.users, ms(targetQuarterP99), ms(q.p50), ms(q.p99), ms(q.p999))
		fmt.Fprintf(&b, "| … of which accepted → user-service has locked the user (p50 / p99) | %s / %s |\n", ms(q.applyP50), ms(q.applyP99))
		fmt.Fprintf(&b, "| … of which locked → UserCreated received (commit, relay, delivery; p50 / p99) | %s / %s |\n", ms(q.relayP50), ms(q.relayP99))
		median, worst := medianAndWorst(q.secondP99s)
		fmt.Fprintf(&b, "| … p99 of each second of it: the median second / the worst | %s / %s |\n", ms(median), ms(worst))
		if r.quarterPG != nil {
			fmt.Fprintf(&b, "| The raw floor at %d/s: a Postgres single-row commit, fsync on (p50 / p99; per-second p99, median / worst) | %s |\n", q.offeredRate, r.quarterPG)
			fmt.Fprintf(&b, "| The raw floor at %d/s: a JetStream publish awaiting its PubAck (same) | %s |\n", q.offeredRate, r.quarterJS)
		}
	}
	x := r.fixed
	fmt.Fprintf(&b, "| Latency at %d users/s for %d users (p50 / p99 / p99.9) | %s / %s / %s |\n", x.offeredRate, x.users, ms(x.p50), ms(x.p99), ms(x.p999))
	fmt.Fprintf(&b, "| Refused or failed webhooks | %d |\n", f.failedResponses+x.failedResponses)
	fmt.Fprintf(&b, "| Peak memory (VmHWM): idp-hook / user-service | %.0f MiB / %.0f MiB |\n", r.memHook, r.memUsers)
	if k := r.backfill; k != nil {
		fmt.Fprintf(&b, "| Backfill from a real Keycloak (%d users, `idp-hook backfill` start → every user active in Postgres) | %.0f users/s, %.2f × end-to-end (target ≥ 0.8) |\n",
			k.users, k.rate(), k.rate()/r.full.rate())
		fmt.Fprintf(&b, "| Backfill publishing only (the command's run) | %.0f users/s |\n", k.publishRate())
		fmt.Fprintf(&b, "| Backfill again, nothing new (%d users) | %s |\n", k.users, k.second.Round(time.Millisecond))
		fmt.Fprintf(&b, "| Backfill peak memory (idp-hook backfill, its own VmHWM) | %.0f MiB |\n", k.maxRSS)
	}
	if k := r.outage; k != nil {
		fmt.Fprintf(&b, "| Reconciler after an outage (%d users created in Keycloak while idp-hook was down, idp-hook start → every UserCreated) | %.0f users/s, %.2f × end-to-end (target ≥ 0.8)%s |\n",
			k.users, k.rate(), k.rate()/r.full.rate(), r.outageBeside())
		fmt.Fprintf(&b, "| Reconciler: events published for those users (new / dropped as duplicates); in the %s after | %d / %d; %d / %d |\n",
			outageSettle, k.recovered, k.duplicates, k.laterNew, k.laterDup)
	}
	if len(r.ramp) > 0 {
		fmt.Fprintf(&b, "\nSustainable rate (each rate for %s; sustained = users announced end to end at 95 %% of the rate offered or more, p99 < 1 s): **%d users/s**\n\n", o.rampStep, r.sustainable)
		fmt.Fprintf(&b, "| Offered users/s | Achieved users/s | p99 | Sustained |\n|---|---|---|---|\n")
		for _, s := range r.ramp {
			fmt.Fprintf(&b, "| %d | %.0f | %s | %v |\n", s.rate, s.achieved, ms(s.p99), s.ok)
		}
	}
	if r.soak != nil {
		p := r.soak.push
		fmt.Fprintf(&b, "\nSoak: %d users/s for %s (%d users): p50 %s, p99 %s, p99.9 %s, failed webhooks %d.\n\n",
			o.soakRate, o.soak, p.users, ms(p.p50), ms(p.p99), ms(p.p999), p.failedResponses)
		fmt.Fprintf(&b, "| t | users announced | idp-hook RSS | user-service RSS | idp-hook goroutines | user-service goroutines |\n|---|---|---|---|---|---|\n")
		for _, s := range r.soak.samples {
			fmt.Fprintf(&b, "| %s | %d | %.0f MiB | %.0f MiB | %d | %d |\n", s.at, s.created, s.hookRSS, s.usersRSS, s.hookGor, s.usersGor)
		}
	}
	return b.String()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

const (
	beginMark = "<!-- bbq-bench:begin -->"
	endMark   = "<!-- bbq-bench:end -->"
)

// writeSection replaces the generated section of a markdown file, keeping the prose around it.
func writeSection(path, section string) error {
	return writeMarked(path, beginMark, endMark, section)
}

// writeMarked replaces what is between the begin and end marks of a markdown file.
func writeMarked(path, beginMark, endMark, section string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(b)
	i, j := strings.Index(s, beginMark), strings.Index(s, endMark)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %s … %s section", path, beginMark, endMark)
	}
	s = s[:i+len(beginMark)] + "\n" + section + s[j:]
	return os.WriteFile(path, []byte(s), 0o644)
}

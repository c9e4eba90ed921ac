package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// feelOptions size the stages on the real Keycloak (-feel*, see main's flags).
type feelOptions struct {
	seq, invites, signups, conc, browser int
}

// feelResult is Keycloak in the benchmark (CPU per sign-up, ours beside Keycloak's) and the latency a
// person feels (verification link to tenant; accepted invitation to shared tenant).
type feelResult struct {
	seq, invites                   []time.Duration // one person at a time
	seqAfter                       []time.Duration // of seq, the part after Keycloak handed out the tokens
	afterP50, afterP99             time.Duration
	natsShare                      float64 // of the bench process's CPU
	signups, conc                  int
	took                           time.Duration
	cpu                            map[string]time.Duration // per part, over the full-speed sign-ups
	loadBefore, loadAfter          string
	loadSeq, loadBrowser           string // at the start of the one-at-a-time and the Chromium sign-ups
	browser                        *browserResult
	browserErr                     string
	seqP50, seqP99, invP50, invP99 time.Duration
}

// CPU parts: Keycloak, ours (the pipeline), and the rest.
const (
	cpuKeycloak  = "Keycloak (java)"
	cpuHook      = "idp-hook"
	cpuUsers     = "user-service"
	cpuPostgres  = "Postgres (all backends)"
	cpuBench     = "the bench process (NATS, load driver, SMTP sink)"
	cpuNATS      = "NATS (its share of the bench process's CPU profile)"
	cpuDashboard = "dashboard (proxying Keycloak's pages)"
)

// feelWarmUp sign-ups go first, unmeasured.
const feelWarmUp = 5

var pipelineParts = []string{cpuHook, cpuUsers, cpuPostgres, cpuNATS}

func (r *feelResult) ours() time.Duration {
	var d time.Duration
	for _, p := range pipelineParts {
		d += r.cpu[p]
	}
	return d
}

// share is our CPU per sign-up as a share of Keycloak's (the same sign-ups, so a ratio of totals).
func (r *feelResult) share() float64 { return r.ours().Seconds() / r.cpu[cpuKeycloak].Seconds() }

// shareUpperBound counts the whole bench process (NATS runs in it beside the load driver) as ours.
func (r *feelResult) shareUpperBound() float64 {
	return (r.ours() - r.cpu[cpuNATS] + r.cpu[cpuBench]).Seconds() / r.cpu[cpuKeycloak].Seconds()
}

func (r *feelResult) rate() float64 { return float64(r.signups) / r.took.Seconds() }

// runFeel starts the local system on free ports and runs the stages.
func runFeel(ctx context.Context, o feelOptions, out io.Writer) (*feelResult, error) {
	fmt.Fprintln(out, "feel: starting the local system on free ports (Keycloak, idp-hook, user-service, dashboard)…")
	t0 := time.Now()
	s, err := startFeelStack(ctx, out)
	if err != nil {
		return nil, err
	}
	defer s.stop()
	fmt.Fprintf(out, "feel: up in %s at %s\n", time.Since(t0).Round(time.Second), s.public)
	r := &feelResult{cpu: map[string]time.Duration{}}
	stamp := token(3)
	// Warm-up, not measured: people meet a Keycloak whose JIT has compiled the sign-up's code.
	for i := range feelWarmUp {
		if _, err := s.signUp(ctx, fmt.Sprintf("warm%d-%s@example.com", i, stamp)); err != nil {
			return nil, err
		}
	}
	people := make([]person, 0, o.seq)
	r.loadSeq = loadAvg()
	for i := range o.seq {
		p, err := s.signUp(ctx, fmt.Sprintf("seq%03d-%s@example.com", i, stamp))
		if err != nil {
			return nil, err
		}
		people, r.seq, r.seqAfter = append(people, p), append(r.seq, p.felt), append(r.seqAfter, p.after)
		if (i+1)%10 == 0 {
			fmt.Fprintf(out, "feel: %d/%d sign-ups one at a time, last %s\n", i+1, o.seq, ms(p.felt))
		}
	}
	for i := 0; i+1 < len(people) && i/2 < o.invites; i += 2 {
		d, err := s.invite(ctx, people[i], people[i+1])
		if err != nil {
			return nil, err
		}
		r.invites = append(r.invites, d)
	}
	r.seqP50, r.seqP99 = quantiles(r.seq)
	r.invP50, r.invP99 = quantiles(r.invites)
	r.afterP50, r.afterP99 = quantiles(r.seqAfter)
	fmt.Fprintf(out, "feel: verification link → tenant in the API, one person at a time (%d): p50 %s, p99 %s (target p99 < 1 s), of which after the tokens p50 %s, p99 %s; accepted invitation → shared tenant (%d): p50 %s, p99 %s\n",
		len(r.seq), ms(r.seqP50), ms(r.seqP99), ms(r.afterP50), ms(r.afterP99), len(r.invites), ms(r.invP50), ms(r.invP99))
	if o.signups > 0 {
		if err := r.fullSpeed(ctx, s, o, stamp, out); err != nil {
			return nil, err
		}
	}
	if o.browser > 0 {
		fmt.Fprintf(out, "feel: %d sign-ups in Chromium…\n", o.browser)
		r.loadBrowser = loadAvg()
		b, err := runBrowser(ctx, s, o.browser, max(o.invites, 0), out)
		if err != nil {
			r.browserErr = err.Error()
			fmt.Fprintln(out, "feel: browser stage failed:", err)
		} else {
			r.browser = b
		}
	}
	return r, nil
}

// fullSpeed signs up o.signups people, o.conc at a time, and reads each part's CPU before and after.
func (r *feelResult) fullSpeed(ctx context.Context, s *feelStack, o feelOptions, stamp string, out io.Writer) error {
	r.signups, r.conc = o.signups, o.conc
	fmt.Fprintf(out, "feel: %d sign-ups through Keycloak, %d at a time…\n", o.signups, o.conc)
	r.loadBefore = loadAvg()
	prof, err := startCPUProfile()
	if err != nil {
		return err
	}
	before := s.sampleCPU()
	start := time.Now()
	err = parallel(o.signups, o.conc, 0, func(i int) error {
		_, err := s.signUp(ctx, fmt.Sprintf("full%05d-%s@example.com", i, stamp))
		return err
	})
	if err != nil {
		return err
	}
	r.took = time.Since(start) // every tenant is readable: the pipeline's work is done
	after := s.sampleCPU()
	r.loadAfter = loadAvg()
	for k, v := range after {
		r.cpu[k] = v - before[k]
	}
	if r.natsShare, err = prof.stop(ctx); err != nil {
		return err
	}
	r.cpu[cpuNATS] = time.Duration(r.natsShare * float64(r.cpu[cpuBench]))
	fmt.Fprintln(out, r.cpuLine())
	return nil
}

func (r *feelResult) cpuLine() string {
	n := float64(r.signups)
	per := func(k string) string { return fmt.Sprintf("%.1f ms", r.cpu[k].Seconds()*1000/n) }
	return fmt.Sprintf("feel: %.1f sign-ups/s through Keycloak; CPU per sign-up: Keycloak %s, ours %.1f ms (idp-hook %s, user-service %s, Postgres %s, NATS %s of the bench process's %s), dashboard proxy %s: ours / Keycloak's = %.3f (target ≤ 0.1; %.3f counting the whole bench process)",
		r.rate(), per(cpuKeycloak), r.ours().Seconds()*1000/n, per(cpuHook), per(cpuUsers), per(cpuPostgres), per(cpuNATS), per(cpuBench), per(cpuDashboard), r.share(), r.shareUpperBound())
}

// sampleCPU reads each part's CPU time from /proc.
func (s *feelStack) sampleCPU() map[string]time.Duration {
	ps := allProcs()
	m := map[string]time.Duration{
		cpuKeycloak:  treeCPU(ps, s.l.Keycloak.Pid()),
		cpuHook:      treeCPU(ps, s.l.Pipeline.IdPHook.Pid()),
		cpuUsers:     treeCPU(ps, s.l.Pipeline.UserService.Pid()),
		cpuDashboard: treeCPU(ps, s.l.Dash.Pid()),
		cpuBench:     ownCPU(ps, os.Getpid()),
	}
	pgDir := filepath.Join(s.dir, "postgres")
	for _, pid := range childrenNamed(ps, os.Getpid(), "postgres") {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && strings.Contains(string(b), pgDir) {
			m[cpuPostgres] += treeCPU(ps, pid)
		}
	}
	return m
}

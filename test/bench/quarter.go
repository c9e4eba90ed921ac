package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Issue 16's end-to-end targets, as ratios of the same run.
const (
	targetPostgresRatio = 0.5                   // full-speed users/s ÷ raw Postgres transactions/s
	targetQuarterP99    = 10 * time.Millisecond // p99 at a quarter of the full-speed rate
)

// quarterRate pushes users at a quarter of the full-speed rate for d, for the latency target.
func (r *results) quarterRate(ctx context.Context, env *benchEnv, d time.Duration, conc int, out io.Writer) error {
	rate := max(int(r.full.rate()/4), 1)
	fmt.Fprintf(out, "a quarter of full speed: %d users/s for %s…\n", rate, d)
	q, err := env.push(ctx, "q", max(int(float64(rate)*d.Seconds()), 1), conc, rate)
	if err != nil {
		return err
	}
	r.quarter = &q
	fmt.Fprintf(out, "the raw floor at %d/s: Postgres commits, JetStream publishes…\n", rate)
	pg, err := rawPostgresLatency(ctx, env.pg.URL("raw"), rate, d, conc)
	if err != nil {
		return fmt.Errorf("raw Postgres latency: %w", err)
	}
	js, err := rawJetStreamLatency(ctx, env.js, rate, d, conc)
	if err != nil {
		return fmt.Errorf("raw JetStream latency: %w", err)
	}
	r.quarterPG, r.quarterJS = &pg, &js
	fmt.Fprintln(out, r.targetLines())
	return nil
}

// targetLines prints the end-to-end targets beside what this run measured.
func (r *results) targetLines() string {
	var b strings.Builder
	if r.pgInsert > 0 {
		ratio := r.full.rate() / r.pgInsert
		fmt.Fprintf(&b, "end to end %.0f users/s ÷ raw Postgres %.0f transactions/s = %.2f (target ≥ %.1f: %s)\n",
			r.full.rate(), r.pgInsert, ratio, targetPostgresRatio, met(ratio >= targetPostgresRatio))
	}
	if q := r.quarter; q != nil {
		median, worst := medianAndWorst(q.secondP99s)
		fmt.Fprintf(&b, "p99 at a quarter of full speed (%d users/s): %s (target < %s: %s); to the lock %s, from it %s; per second: median %s, worst %s (each second: %s)",
			q.offeredRate, ms(q.p99), ms(targetQuarterP99), met(q.p99 < targetQuarterP99), ms(q.applyP99), ms(q.relayP99),
			ms(median), ms(worst), wholeMs(q.secondP99s))
		if r.quarterPG != nil {
			fmt.Fprintf(&b, "\nthe raw floor at that rate (p50 / p99; per-second p99, median / worst): a Postgres commit %s, a JetStream publish %s",
				r.quarterPG, r.quarterJS)
		}
	}
	return b.String()
}

// wholeMs lists durations in whole milliseconds.
func wholeMs(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = strconv.FormatInt(d.Round(time.Millisecond).Milliseconds(), 10)
	}
	return strings.Join(parts, " ")
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}

// loadAverage is the machine's 1-, 5- and 15-minute load when the results were written (the machine may be shared).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

package writeback

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// rounds runs a round every interval and whenever woken (Wake), until Run's context ends.
type rounds struct {
	interval time.Duration
	wake     chan struct{}
	round    func(context.Context) int
}

func newRounds(interval time.Duration, round func(context.Context) int) rounds {
	return rounds{interval: interval, wake: make(chan struct{}, 1), round: round}
}

// Wake asks for a round now.
func (r rounds) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run writes back until ctx ends.
func (r rounds) Run(ctx context.Context) error {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-r.wake:
		}
		r.round(ctx)
	}
}

// claimRound claims jobs and does them one by one, stopping well inside the lease: once it ends, another
// replica may claim what is left, so the rest is released, and requests still running then are cut (jobCtx),
// so none reaches Keycloak after the lease. It returns how many jobs it claimed.
func claimRound[J any](ctx context.Context, lease time.Duration, claim func(context.Context) ([]J, error),
	do func(ctx, jobCtx context.Context, j J), release func(context.Context, []J)) (int, error) {
	claimed := time.Now()
	jobs, err := claim(ctx)
	if err != nil {
		return 0, err
	}
	jobCtx, cancel := context.WithDeadline(ctx, claimed.Add(lease*3/4))
	defer cancel()
	for i, j := range jobs {
		if jobCtx.Err() != nil {
			release(ctx, jobs[i:])
			break
		}
		do(ctx, jobCtx, j)
	}
	return len(jobs), nil
}

// metricNames name a writer's metrics.
type metricNames struct {
	written, writtenHelp, failures, failuresHelp, jobs, jobsHelp string
}

func newMetrics(reg prometheus.Registerer, n metricNames) metrics {
	m := metrics{
		written:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: n.written, Help: n.writtenHelp}, []string{"outcome"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: n.failures, Help: n.failuresHelp}, []string{"reason"}),
		jobs:     prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: n.jobs, Help: n.jobsHelp}, []string{"state"}),
	}
	reg.MustRegister(m.written, m.failures, m.jobs)
	return m
}

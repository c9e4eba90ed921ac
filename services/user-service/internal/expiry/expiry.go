// Package expiry stores pending invitations past their expiry as expired, announcing InvitationExpired once for
// each (the status changes in the transaction that announces it). Until a round has run, the API already
// shows such an invitation as expired and refuses its link.
package expiry

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Store is the repository's part the sweep needs.
type Store interface {
	ExpireInvitations(ctx context.Context, limit int) (int, error)
}

// Sweeper runs a round every interval.
type Sweeper struct {
	store    Store
	interval time.Duration
	batch    int
	log      *slog.Logger
	expired  prometheus.Counter
}

// Config of the sweep.
type Config struct {
	Interval time.Duration // between sweeps; default 1m
}

// New returns a Sweeper (100 invitations per transaction) and registers its metric.
func New(cfg Config, s Store, log *slog.Logger, reg prometheus.Registerer) *Sweeper {
	interval := cfg.Interval
	if interval <= 0 {
		interval = time.Minute
	}
	w := &Sweeper{store: s, interval: interval, batch: 100, log: log, expired: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bbq_invitations_expired_total", Help: "Pending invitations stored as expired (and announced) by the sweep."})}
	reg.MustRegister(w.expired)
	return w
}

// Run sweeps at start and every interval until ctx ends.
func (w *Sweeper) Run(ctx context.Context) error {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		if _, err := w.Round(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("invitation expiry failed; next round retries", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Round expires everything due, a batch per transaction, and returns how many.
func (w *Sweeper) Round(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := w.store.ExpireInvitations(ctx, w.batch)
		total += n
		w.expired.Add(float64(n))
		if err != nil || n < w.batch {
			return total, err
		}
	}
}

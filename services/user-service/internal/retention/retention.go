// Package retention prunes what the user service keeps only while the bus can still bring it an event again:
// the inbox (processed_events).
package retention

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/connectedbbq/platform/services/user-service/internal/store"
)

// Config of the pruner.
type Config struct {
	Keep     time.Duration // inbox entries older than this go; 0 keeps them forever (the pruner does nothing)
	Interval time.Duration // between rounds
	Batch    int           // rows per DELETE
}

// Pruner deletes old inbox entries every Interval.
type Pruner struct {
	store  *store.Store
	cfg    Config
	log    *slog.Logger
	pruned prometheus.Counter
}

// New returns a Pruner and registers its metric.
func New(cfg Config, s *store.Store, log *slog.Logger, reg prometheus.Registerer) *Pruner {
	p := &Pruner{store: s, cfg: cfg, log: log, pruned: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bbq_users_inbox_pruned_total", Help: "Inbox entries (processed_events) deleted for being older than the replay window."})}
	reg.MustRegister(p.pruned)
	return p
}

// Run prunes at start and then every Interval until ctx ends.
func (p *Pruner) Run(ctx context.Context) error {
	if p.cfg.Keep <= 0 {
		p.log.Info("inbox pruning off: the bus or the dead letters keep events forever")
		return nil
	}
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := p.Round(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("inbox pruning failed; next round retries", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Round prunes once and returns how many entries went.
func (p *Pruner) Round(ctx context.Context) (int64, error) {
	n, err := p.store.PruneInbox(ctx, p.cfg.Keep, p.cfg.Batch)
	p.pruned.Add(float64(n))
	if n > 0 {
		p.log.Info("inbox pruned", "entries", n, "older_than", p.cfg.Keep)
	}
	return n, err
}

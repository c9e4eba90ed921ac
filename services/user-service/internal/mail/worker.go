package mail

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/connectedbbq/platform/services/user-service/internal/store"
)

// Queue is the store's mail queue.
type Queue interface {
	SendInvitationMail(ctx context.Context, send func(context.Context, store.InvitationMail) error, retry func(attempt int) time.Duration) (store.MailOutcome, error)
}

// Worker sends the queued invitation mails: at once when woken after a commit, and every Poll for retries
// and for mails queued by other replicas.
type Worker struct {
	queue Queue
	send  func(context.Context, store.InvitationMail) error
	log   *slog.Logger
	poll  time.Duration
	wake  chan struct{}
	sent  *prometheus.CounterVec
}

// WorkerConfig of a Worker.
type WorkerConfig struct {
	Poll time.Duration // between looks at the queue when not woken; default 5s
}

// NewWorker returns a Worker and registers its metric.
func NewWorker(cfg WorkerConfig, q Queue, send func(context.Context, store.InvitationMail) error, log *slog.Logger, reg prometheus.Registerer) *Worker {
	poll := cfg.Poll
	if poll <= 0 {
		poll = 5 * time.Second
	}
	w := &Worker{queue: q, send: send, log: log, poll: poll, wake: make(chan struct{}, 1),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bbq_invitation_mails_total",
			Help: "Invitation mails by outcome: sent, failed (retried later), dropped (the invitation was no longer pending)."}, []string{"outcome"})}
	reg.MustRegister(w.sent)
	return w
}

// Wake makes the worker look at the queue now.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run sends until ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	t := time.NewTicker(w.poll)
	defer t.Stop()
	for {
		w.Drain(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-w.wake:
		}
	}
}

// Drain sends every due mail, one transaction each, and returns how many were sent. A failure ends the round
// (the SMTP server is likely down); the failed mail is retried after its back-off.
func (w *Worker) Drain(ctx context.Context) int {
	n := 0
	for ctx.Err() == nil {
		outcome, err := w.queue.SendInvitationMail(ctx, w.send, Backoff)
		if outcome != store.MailNone {
			w.sent.WithLabelValues(string(outcome)).Inc()
		}
		if err != nil {
			if ctx.Err() == nil {
				w.log.Warn("invitation mail not sent; retried later", "error", err)
			}
			return n
		}
		switch outcome {
		case store.MailNone:
			return n
		case store.MailSent:
			n++
		}
	}
	return n
}

// Backoff is the wait before attempt+1: 5s, 10s, 20s... at most 15 minutes. A mail is never given up.
func Backoff(attempt int) time.Duration {
	d := 5 * time.Second
	for i := 1; i < attempt && d < 15*time.Minute; i++ {
		d *= 2
	}
	return min(d, 15*time.Minute)
}

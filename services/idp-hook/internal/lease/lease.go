// Package lease elects one leader among replicas with a key in a JetStream KV bucket whose MaxAge is the
// lease's TTL: the holder renews the key by revision (compare-and-set), a candidate creates it only when it is
// absent, and a holder that dies stops renewing, so the key expires and another replica takes over.
package lease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Config of a Lease.
type Config struct {
	Bucket   string // the KV bucket of leases, made (with TTL as its MaxAge) when missing
	Replicas int
	Key      string        // what is led, e.g. "reconciler"
	Holder   string        // this replica's name (unique per process)
	TTL      time.Duration // a holder silent this long has lost the lease
}

// Validate checks the config.
func (c Config) Validate() error {
	if c.Bucket == "" || c.Key == "" || c.Holder == "" || c.TTL < time.Second {
		return fmt.Errorf("lease: bucket, key and holder required, TTL at least 1s (got %q, %q, %q, %s)", c.Bucket, c.Key, c.Holder, c.TTL)
	}
	return nil
}

// EnsureBucket creates the bucket of leases with ttl as its MaxAge.
func EnsureBucket(ctx context.Context, js jetstream.JetStream, name string, replicas int, ttl time.Duration) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, Description: "leader leases",
		Storage: jetstream.FileStorage, Replicas: replicas, History: 1, TTL: ttl})
	if err != nil {
		return nil, fmt.Errorf("lease bucket %s: %w", name, err)
	}
	return kv, nil
}

// Lease is one replica's claim on a key.
type Lease struct {
	js  jetstream.JetStream
	kv  jetstream.KeyValue // nil until the bucket is made
	cfg Config
	log *slog.Logger
	rev uint64 // revision of our last write; 0 when not held
}

// New returns a Lease; the bucket is made by Lead, which keeps trying while JetStream is away (a replica
// that cannot reach the leases simply does not lead; it still serves).
func New(cfg Config, js jetstream.JetStream, log *slog.Logger) (*Lease, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Lease{js: js, cfg: cfg, log: log}, nil
}

// Lead runs fn whenever this replica holds the lease, with a context that ends as soon as it may no longer
// hold it, until ctx ends. The lease is renewed every TTL/3 and given up at the first failed renewal (at most
// 2·TTL/3 after the last good one, so before the key can expire and another replica take it).
func (l *Lease) Lead(ctx context.Context, fn func(context.Context)) {
	every := l.cfg.TTL / 3
	for ctx.Err() == nil {
		if l.try(ctx, every) {
			l.lead(ctx, every, fn)
		}
		select {
		case <-ctx.Done():
		case <-time.After(every):
		}
	}
	l.release()
}

// lead runs fn while renewals succeed.
func (l *Lease) lead(ctx context.Context, every time.Duration, fn func(context.Context)) {
	l.log.Info("lease taken", "key", l.cfg.Key, "holder", l.cfg.Holder)
	leading, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); fn(leading) }()
	defer func() { stop(); <-done }()
	for {
		select {
		case <-ctx.Done():
			return
		case <-done:
			return
		case <-time.After(every):
		}
		if !l.try(ctx, every) {
			l.log.Warn("lease lost", "key", l.cfg.Key, "holder", l.cfg.Holder)
			return
		}
	}
}

// try takes the lease if it is free, or renews it if held; it reports whether this replica holds it now.
func (l *Lease) try(ctx context.Context, timeout time.Duration) bool {
	if l.kv == nil && !l.ensure(ctx) {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var rev uint64
	var err error
	if l.rev == 0 {
		rev, err = l.kv.Create(ctx, l.cfg.Key, []byte(l.cfg.Holder))
	} else {
		rev, err = l.kv.Update(ctx, l.cfg.Key, []byte(l.cfg.Holder), l.rev)
	}
	if err != nil {
		if !errors.Is(err, jetstream.ErrKeyExists) && ctx.Err() == nil {
			l.log.Debug("lease not renewed", "key", l.cfg.Key, "error", err)
		}
		l.rev = 0
		return false
	}
	l.rev = rev
	return true
}

// ensure makes the bucket; not leading yet, it may take its time (a busy cluster makes an R3 bucket slowly).
func (l *Lease) ensure(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	kv, err := EnsureBucket(ctx, l.js, l.cfg.Bucket, l.cfg.Replicas, l.cfg.TTL)
	if err != nil {
		l.log.Warn("lease bucket not ready; not leading", "key", l.cfg.Key, "error", err)
		return false
	}
	l.kv = kv
	return true
}

// release deletes the key if this replica still holds it, so that another takes over without waiting TTL.
func (l *Lease) release() {
	if l.rev == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = l.kv.Delete(ctx, l.cfg.Key, jetstream.LastRevision(l.rev))
	l.rev = 0
}

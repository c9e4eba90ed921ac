package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
)

// rawLatency is the floor under the quarter-rate latency: the raw operations each sign-up waits for, one at a
// time at the same rate on the same machine. A verification waits for a JetStream publish (idp-hook's), a
// Postgres commit with fsync (the consumer's) and a publish again (the relay's), so its p99 cannot be below
// these; a worst second far above the median second here is the disk's or the machine's, not the pipeline's.
type rawLatency struct {
	p50, p99      time.Duration
	median, worst time.Duration // p99 of the median and of the worst second
}

func (l rawLatency) String() string {
	return fmt.Sprintf("%s / %s; per second %s / %s", ms(l.p50), ms(l.p99), ms(l.median), ms(l.worst))
}

// paced runs op at rate per second for d, from at most conc goroutines, and returns the quantiles of how long
// each took.
func paced(ctx context.Context, rate int, d time.Duration, conc int, op func(ctx context.Context, i int) error) (rawLatency, error) {
	n := max(int(float64(rate)*d.Seconds()), 1)
	began, ended := make([]time.Time, n), make([]time.Time, n)
	start := time.Now()
	err := parallel(n, conc, rate, func(i int) error {
		began[i] = time.Now()
		err := op(ctx, i)
		ended[i] = time.Now()
		return err
	})
	if err != nil {
		return rawLatency{}, err
	}
	lat := latencies(began, ended)
	median, worst := medianAndWorst(perSecondP99(start, began, ended))
	return rawLatency{p50: lat(0.50), p99: lat(0.99), median: median, worst: worst}, nil
}

// rawPostgresLatency times single-row insert transactions (fsync on, as the consumer's commits) at rate for d.
func rawPostgresLatency(ctx context.Context, url string, rate int, d time.Duration, conc int) (rawLatency, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return rawLatency{}, err
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `CREATE TABLE raw_paced (id text PRIMARY KEY, body text NOT NULL)`); err != nil {
		return rawLatency{}, err
	}
	return paced(ctx, rate, d, conc, func(ctx context.Context, i int) error {
		_, err := pool.Exec(ctx, `INSERT INTO raw_paced (id, body) VALUES ($1, $2)`, strconv.Itoa(i), "user@example.com")
		return err
	})
}

// rawJetStreamLatency times publishes that wait for their PubAck (as idp-hook's) at rate for d.
func rawJetStreamLatency(ctx context.Context, js jetstream.JetStream, rate int, d time.Duration, conc int) (rawLatency, error) {
	payload := slices.Repeat([]byte("x"), 600)
	return paced(ctx, rate, d, conc, func(ctx context.Context, i int) error {
		_, err := js.Publish(ctx, "raw.paced", payload, jetstream.WithMsgID("p"+strconv.Itoa(i)))
		return err
	})
}

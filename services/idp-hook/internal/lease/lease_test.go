package lease_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/connectedbbq/platform/services/idp-hook/internal/lease"
	"github.com/connectedbbq/platform/testing/natstest"
)

const ttl = 3 * time.Second

// replica is one Lead loop on its own NATS connection, so a test can cut it off as a crash would.
type replica struct {
	nc     *nats.Conn
	cancel context.CancelFunc
	done   chan struct{}
	led    atomic.Int64 // times fn started
}

func start(t *testing.T, url, name string, leaders *atomic.Int64, overlap *atomic.Bool) *replica {
	t.Helper()
	nc, js := natstest.Connect(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	l, err := lease.New(lease.Config{Bucket: "leases", Replicas: 1, Key: "reconciler", Holder: name, TTL: ttl}, js,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{nc: nc, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		l.Lead(ctx, func(ctx context.Context) {
			r.led.Add(1)
			if leaders.Add(1) > 1 {
				overlap.Store(true)
			}
			<-ctx.Done()
			leaders.Add(-1)
		})
	}()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// One replica leads at a time; when the leader stops (gracefully, or cut off as by a crash or a partition),
// another takes over, and no two ever lead together.
func TestOneLeaderAtATime(t *testing.T) {
	b := natstest.New(t)
	var leaders atomic.Int64
	var overlap atomic.Bool
	a, c := start(t, b.URL, "a", &leaders, &overlap), start(t, b.URL, "b", &leaders, &overlap)
	waitFor(t, "a leader", ttl, func() bool { return leaders.Load() == 1 })
	time.Sleep(ttl) // renewals keep the same leader
	if n := a.led.Load() + c.led.Load(); n != 1 {
		t.Fatalf("leadership started %d times in a steady state, want 1", n)
	}
	first, second := a, c
	if c.led.Load() == 1 {
		first, second = c, a
	}

	first.nc.Close() // a crash or partition: no release, the key must expire
	cut := time.Now()
	waitFor(t, "takeover after a crash", 2*ttl, func() bool { return second.led.Load() == 1 })
	t.Logf("takeover after the leader was cut off: %s", time.Since(cut).Round(10*time.Millisecond))

	d := start(t, b.URL, "d", &leaders, &overlap)
	second.cancel() // a graceful stop releases the key: the next one takes over without waiting for expiry
	<-second.done
	stopped := time.Now()
	waitFor(t, "takeover after a graceful stop", ttl, func() bool { return d.led.Load() == 1 })
	t.Logf("takeover after a graceful stop: %s", time.Since(stopped).Round(10*time.Millisecond))
	if overlap.Load() {
		t.Fatal("two replicas led at once")
	}
}

// Many candidates racing for a free lease: exactly one wins.
func TestRaceForAFreeLease(t *testing.T) {
	b := natstest.New(t)
	var leaders atomic.Int64
	var overlap atomic.Bool
	var wg sync.WaitGroup
	rs := make([]*replica, 5)
	for i := range rs {
		wg.Go(func() { rs[i] = start(t, b.URL, string(rune('a'+i)), &leaders, &overlap) })
	}
	wg.Wait()
	waitFor(t, "a leader", ttl, func() bool { return leaders.Load() == 1 })
	time.Sleep(ttl / 2)
	if overlap.Load() || leaders.Load() != 1 {
		t.Fatalf("leaders %d (overlap %v), want exactly 1", leaders.Load(), overlap.Load())
	}
}

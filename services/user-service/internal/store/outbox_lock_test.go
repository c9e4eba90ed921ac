package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/connectedbbq/platform/services/user-service/internal/store"
)

// One drain at a time, across replicas: while one relay publishes a batch, another's drain takes nothing
// (SKIP LOCKED alone would hand it the next rows, which it could publish first), and afterwards it takes
// what is left.
func TestOneOutboxDrainAtATime(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := open(t)
	other := s // another connection of the pool: another session, as another replica's
	if _, errs, err := s.ApplyBatch(ctx, append(signUp(t, "u-a"), signUp(t, "u-b")...)); err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	inside, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		_, err := s.DrainOutbox(ctx, 1, func(_ context.Context, evs []store.OutboxEvent) ([]store.OutboxEvent, error) {
			close(inside)
			<-release
			return evs, nil
		})
		first <- err
	}()
	<-inside
	n, err := other.DrainOutbox(ctx, 100, func(_ context.Context, evs []store.OutboxEvent) ([]store.OutboxEvent, error) {
		t.Errorf("a second drain got %d events while the first was publishing", len(evs))
		return evs, nil
	})
	if err != nil || n != 0 {
		t.Fatalf("second drain: %d, %v; want 0, nil", n, err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	left, err := other.DrainOutbox(ctx, 100, func(_ context.Context, evs []store.OutboxEvent) ([]store.OutboxEvent, error) { return evs, nil })
	if err != nil || left == 0 {
		t.Fatalf("after the first drain: %d, %v; want the rest", left, err)
	}
}

// A drain that goes on while events wait publishes batch after batch, each deleted in its own transaction, and
// stops where the outbox is empty; one whose publish fails stops there and keeps what it did not publish.
func TestADrainGoesOnWhileEventsWait(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := open(t)
	for _, u := range []string{"u-a", "u-b", "u-c"} {
		if _, errs, err := s.ApplyBatch(ctx, signUp(t, u)); err != nil || errs[0] != nil {
			t.Fatal(err, errs)
		}
	}
	waiting, _, err := s.OutboxBacklog(ctx)
	if err != nil || waiting < 5 {
		t.Fatalf("outbox backlog %d, %v; want several events", waiting, err)
	}
	var batches []int
	failAt := 2 // the second batch fails
	n, err := s.DrainOutboxWhile(ctx, 2, func(_ context.Context, evs []store.OutboxEvent) ([]store.OutboxEvent, error) {
		batches = append(batches, len(evs))
		if len(batches) == failAt {
			return evs[:1], errors.New("no PubAck")
		}
		return evs, nil
	}, func(int) bool { return true })
	if err == nil || n != 3 || len(batches) != 2 {
		t.Fatalf("failing drain: %d published in batches %v, %v; want 3 in 2 batches and the error", n, batches, err)
	}
	if left, _, _ := s.OutboxBacklog(ctx); left != waiting-3 {
		t.Fatalf("after the failing drain %d events wait, want %d", left, waiting-3)
	}
	batches = nil
	n, err = s.DrainOutboxWhile(ctx, 2, func(_ context.Context, evs []store.OutboxEvent) ([]store.OutboxEvent, error) {
		batches = append(batches, len(evs))
		return evs, nil
	}, func(int) bool { return true })
	if err != nil || n != waiting-3 || len(batches) != (waiting-3+1)/2 {
		t.Fatalf("drain: %d published in batches %v, %v; want %d in batches of 2", n, batches, err, waiting-3)
	}
	if left, _, _ := s.OutboxBacklog(ctx); left != 0 {
		t.Fatalf("%d events left, want 0", left)
	}
	// The session is out of its transactions: another drain takes the lock and finds nothing.
	if n, err := s.DrainOutbox(ctx, 10, func(context.Context, []store.OutboxEvent) ([]store.OutboxEvent, error) {
		t.Error("an empty outbox handed out events")
		return nil, nil
	}); err != nil || n != 0 {
		t.Fatalf("drain of the empty outbox: %d, %v", n, err)
	}
}

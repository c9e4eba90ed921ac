package store_test

import (
	"context"
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

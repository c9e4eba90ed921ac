package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/connectedbbq/platform/services/user-service/internal/store"
)

// syncJobs stores n active users, each with a write-back request, straight in SQL.
func syncJobs(t *testing.T, s *store.Store, n int) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Pool().Exec(ctx, `INSERT INTO tenants (id, display_name, kind) VALUES ('t', 'T', 'declared')`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, `INSERT INTO users (id, status, tenant_id, role) SELECT 'u' || i, 'active', 't', 'member' FROM generate_series(1, $1) i`, n); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, `INSERT INTO keycloak_sync (user_id) SELECT id FROM users`); err != nil {
		t.Fatal(err)
	}
}

// Claimers running at once never get the same job, and together get all of them.
func TestKeycloakSyncClaimsAreExclusive(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	const n = 200
	syncJobs(t, s, n)
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				jobs, err := s.ClaimKeycloakSyncs(ctx, 7, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if len(jobs) == 0 {
					return
				}
				mu.Lock()
				for _, j := range jobs {
					seen[j.UserID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("claimed %d distinct jobs, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("job %s claimed %d times", id, c)
		}
	}
}

// A lease that ran out lets another replica claim the job; the first replica's claim is then void: its
// outcome changes nothing.
func TestKeycloakSyncLease(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	syncJobs(t, s, 1)
	first, err := s.ClaimKeycloakSyncs(ctx, 10, time.Second)
	if err != nil || len(first) != 1 {
		t.Fatalf("claim: %v %v", first, err)
	}
	if again, _ := s.ClaimKeycloakSyncs(ctx, 10, time.Second); len(again) != 0 {
		t.Fatalf("claimed during the lease: %v", again)
	}
	time.Sleep(1100 * time.Millisecond)
	second, err := s.ClaimKeycloakSyncs(ctx, 10, time.Minute)
	if err != nil || len(second) != 1 {
		t.Fatalf("claim after the lease: %v %v", second, err)
	}
	if err := s.KeycloakSynced(ctx, first[0]); err != nil { // the stale claim: no effect
		t.Fatal(err)
	}
	if err := s.KeycloakSyncRefused(ctx, first[0], 400, fmt.Errorf("stale")); err != nil {
		t.Fatal(err)
	}
	states, _ := s.KeycloakSyncStates(ctx)
	if len(states) != 1 || states[0].Failed {
		t.Fatalf("a stale claim changed the job: %+v", states)
	}
	// A request made while the job runs outlives the job's success.
	if _, err := s.Pool().Exec(ctx, `UPDATE keycloak_sync SET requested_at = clock_timestamp()`); err != nil {
		t.Fatal(err)
	}
	if err := s.KeycloakSynced(ctx, second[0]); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.ClaimKeycloakSyncs(ctx, 10, time.Minute); len(again) != 1 {
		t.Fatalf("the newer request was lost or still claimed: %v", again)
	}
}

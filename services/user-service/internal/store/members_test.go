package store_test

import (
	"context"
	"testing"

	"github.com/connectedbbq/platform/pkg/events"
	eventsv1 "github.com/connectedbbq/platform/pkg/gen/bbq/events/v1"
)

// Activation adds one membership and one TenantMemberAdded however often its events are delivered;
// deletion ends the memberships (UserRemoved says so).
func TestActivationMembershipOnceAndDeletionEndsIt(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	count := func(sql string, args ...any) int {
		t.Helper()
		var n int
		if err := s.Pool().QueryRow(ctx, sql, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for range 3 {
		applyEach(t, s, signUp(t, "u-m")...)
	}
	if m, added := count(`SELECT count(*) FROM memberships WHERE user_id = 'u-m' AND role = 'admin' AND source = 'personal'`),
		count(`SELECT count(*) FROM outbox WHERE subject = $1`, events.TenantMemberAdded.Subject); m != 1 || added != 1 {
		t.Fatalf("memberships %d, TenantMemberAdded %d; want 1 and 1", m, added)
	}
	applyEach(t, s, event(t, events.IdPUserDeleted, "del-u-m", "u-m", &eventsv1.UserDeleted{UserId: "u-m", Realm: "bbq"}))
	if m := count(`SELECT count(*) FROM memberships WHERE user_id = 'u-m'`); m != 0 {
		t.Fatalf("a deleted user keeps %d memberships", m)
	}
}

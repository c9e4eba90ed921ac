package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/connectedbbq/platform/pkg/events"
	eventsv1 "github.com/connectedbbq/platform/pkg/gen/bbq/events/v1"
	"github.com/connectedbbq/platform/services/user-service/internal/store"
)

// One batch (two round trips, multi-row statements) leaves what the same events leave applied one
// transaction each in the batch's order (grouped by user) by the per-event statements: the same rows, the same inbox, the same outbox
// events in the same order, the same outcomes. With and without declared tenants (with them, activation
// looks them up; without, it places without asking).
func TestABatchActsAsItsEventsOneByOne(t *testing.T) {
	ctx := context.Background()
	for _, declared := range []bool{false, true} {
		t.Run(fmt.Sprintf("declared tenants %v", declared), func(t *testing.T) {
			batch := lifecycleEvents(t)
			each, batched := open(t), open(t)
			if declared {
				declareAcme(t, each)
				declareAcme(t, batched)
			}
			idx := make([]int, len(batch)) // the batch's order: grouped by user, stable
			for i := range idx {
				idx[i] = i
			}
			slices.SortStableFunc(idx, func(a, b int) int { return strings.Compare(batch[a].Event.Subject(), batch[b].Event.Subject()) })
			var want []store.Outcome
			for _, i := range idx {
				o, errs, err := each.ApplyEventByEvent(ctx, batch[i:i+1])
				if err != nil || errs[0] != nil {
					t.Fatalf("%s: %v %v", batch[i].Event.ID(), err, errs[0])
				}
				want = append(want, o[0])
			}
			outcomes, errs, err := batched.ApplyBatch(ctx, batch)
			if err != nil {
				t.Fatal(err)
			}
			var got []store.Outcome
			for _, i := range idx {
				if errs[i] != nil {
					t.Fatalf("%s: %v", batch[i].Event.ID(), errs[i])
				}
				got = append(got, outcomes[i])
			}
			if !slices.Equal(got, want) {
				t.Errorf("outcomes\n got %v\nwant %v", got, want)
			}
			if g, w := snapshot(t, batched), snapshot(t, each); g != w {
				t.Errorf("the batch left\n%s\none by one left\n%s", g, w)
			}
		})
	}
}

// lifecycleEvents are the lives of several users in one batch: sign-ups, a redelivered event, a stale
// verification, an update after activation, a deletion.
func lifecycleEvents(t *testing.T) []events.Decoded {
	t.Helper()
	var b []events.Decoded
	b = append(b, signUp(t, "u-a")...)
	b = append(b, signUp(t, "u-b")[0], signUp(t, "u-b")[0]) // registered, the event twice
	b = append(b, staleVerification(t, "u-stale", true)...)
	b = append(b, signUp(t, "u-c")...)
	b = append(b,
		event(t, events.UserProfileUpdated, "upd-u-c", "u-c", &eventsv1.UserProfileUpdated{UserId: "u-c", Email: "u-c@example.com", Name: "New Name", Realm: "bbq"}),
		event(t, events.UserRegistered, "reg-u-boss", "u-boss", &eventsv1.UserRegistered{UserId: "u-boss", Email: "boss@acme.example", Realm: "bbq", EmailVerified: true}),
		event(t, events.UserRegistered, "reg-u-gone", "u-gone", &eventsv1.UserRegistered{UserId: "u-gone", Email: "gone@example.com", Name: "Gone", Realm: "bbq", EmailVerified: true}),
		event(t, events.IdPUserDeleted, "del-u-gone", "u-gone", &eventsv1.UserDeleted{UserId: "u-gone", Realm: "bbq"}),
		event(t, events.UserProfileUpdated, "upd-u-gone", "u-gone", &eventsv1.UserProfileUpdated{UserId: "u-gone", Email: "back@example.com", Realm: "bbq"}),
	)
	return b
}

var createdAt = regexp.MustCompile(`"createdAt":"[^"]*",?`)

// snapshot prints what applying events leaves, without the times and the outbox's own ids.
func snapshot(t *testing.T, s *store.Store) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	for _, q := range []string{
		`SELECT id, realm, email, user_name, name, email_verified, enabled, identity_providers, registered, method, status,
			observed_at, observed_event_id, placed_by, tenant_id, role, activated_at IS NULL FROM users ORDER BY id`,
		`SELECT id, display_name, kind FROM tenants ORDER BY id`,
		`SELECT tenant_id, user_id, role, source FROM memberships ORDER BY tenant_id, user_id`,
		`SELECT user_id, write_name FROM keycloak_sync ORDER BY user_id`,
		`SELECT id FROM processed_events ORDER BY id`,
		`SELECT subject, event FROM outbox ORDER BY seq`,
	} {
		rows, err := s.Pool().Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			if body, ok := vals[len(vals)-1].([]byte); ok { // an outbox event: its type, subject and data
				var ce struct {
					Type, Subject string
					Data          json.RawMessage
				}
				if err := json.Unmarshal(body, &ce); err != nil {
					t.Fatal(err)
				}
				vals[len(vals)-1] = fmt.Sprintf("%s %s %s", ce.Type, ce.Subject, createdAt.ReplaceAll(ce.Data, nil))
			}
			fmt.Fprintln(&b, vals...)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

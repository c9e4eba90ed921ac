package store_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/connectedbbq/platform/pkg/events"
	eventsv1 "github.com/connectedbbq/platform/pkg/gen/bbq/events/v1"
	"github.com/connectedbbq/platform/services/user-service/internal/domain"
	"github.com/connectedbbq/platform/services/user-service/internal/store"
	"github.com/connectedbbq/platform/services/user-service/internal/store/storetest"
	"github.com/connectedbbq/platform/testing/pgtest"
)

var srv *pgtest.Server

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &srv)) }

// open gives the test its own migrated database.
func open(t *testing.T) *store.Store { return storetest.Open(t, srv) }

func event(t *testing.T, k events.Kind, id, user string, data proto.Message) events.Decoded {
	t.Helper()
	ev, err := events.New(k, events.Meta{ID: id, Source: events.IdPSource("bbq"), Subject: user, Time: time.Now()}, data)
	if err != nil {
		t.Fatal(err)
	}
	return events.Decoded{Event: ev, Kind: k, Data: data}
}

func signUp(t *testing.T, user string) []events.Decoded {
	return []events.Decoded{
		event(t, events.UserRegistered, "reg-"+user, user, &eventsv1.UserRegistered{UserId: user, Email: user + "@example.com", Name: "N", Realm: "bbq"}),
		event(t, events.UserEmailVerified, "ver-"+user, user, &eventsv1.UserEmailVerified{UserId: user, Realm: "bbq"}),
	}
}

// An event that fails is rolled back alone; the rest of its batch commits, and applying the batch
// again changes nothing.
func TestApplyBatchIsolatesAFailingEvent(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	// user-service does not consume its own UserCreated: applying one is an invalid event.
	bad := event(t, events.UserCreated, "bad", "u-bad", &eventsv1.UserCreated{User: &eventsv1.User{UserId: "u-bad"}})
	noSubject := event(t, events.UserRegistered, "nosub", "u-x", &eventsv1.UserRegistered{Email: "x@example.com"})
	noSubject.Event.SetSubject("") // as a producer outside our contract might send it
	batch := append(append(signUp(t, "u-a"), bad, noSubject), signUp(t, "u-b")...)

	tests := []struct {
		name string
		want []store.Outcome
	}{
		{"first delivery", []store.Outcome{store.Updated, store.Announced, "", "", store.Updated, store.Announced}},
		{"redelivery", []store.Outcome{store.Duplicate, store.Duplicate, "", "", store.Duplicate, store.Duplicate}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			outcomes, errs, err := s.ApplyBatch(ctx, batch)
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range tt.want {
				if outcomes[i] != want {
					t.Errorf("event %d: outcome %q, want %q", i, outcomes[i], want)
				}
				if failed := want == ""; failed != (errs[i] != nil) || (failed && !errors.Is(errs[i], store.ErrInvalidEvent)) {
					t.Errorf("event %d: error %v", i, errs[i])
				}
			}
		})
	}
	var active, created int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM users WHERE status = 'active'`).Scan(&active); err != nil {
		t.Fatal(err)
	}
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM outbox WHERE subject = $1`, events.UserCreated.Subject).Scan(&created); err != nil {
		t.Fatal(err)
	}
	if active != 2 || created != 2 {
		t.Fatalf("active users %d, UserCreated in the outbox %d; want 2 and 2", active, created)
	}
}

// The operator's admin list is followed both ways: listed admins are promoted, unlisted ones demoted, with
// TenantMemberRoleChanged each time; an unchanged spec changes nothing, and the last admin stays.
func TestTheDeclaredAdminListPromotesAndDemotes(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	put := func(admins ...string) {
		t.Helper()
		if _, err := s.PutTenant(ctx, store.Tenant{ID: "acme", DisplayName: "Acme", EmailDomains: []string{"acme.example"}, Admins: admins}); err != nil {
			t.Fatal(err)
		}
	}
	roles := func() string {
		t.Helper()
		var got string
		if err := s.Pool().QueryRow(ctx, `SELECT string_agg(user_id || '=' || role, ' ' ORDER BY user_id) FROM memberships
			WHERE tenant_id = 'acme'`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	changes := func() (n int) {
		t.Helper()
		if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM outbox WHERE subject = $1`, events.TenantMemberRoleChanged.Subject).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	put("ann@acme.example", "bob@acme.example")
	for _, u := range []string{"ann", "bob"} {
		batch := []events.Decoded{event(t, events.UserRegistered, "reg-"+u, u, &eventsv1.UserRegistered{UserId: u, Email: u + "@acme.example", Realm: "bbq", EmailVerified: true})}
		if _, errs, err := s.ApplyBatch(ctx, batch); err != nil || errs[0] != nil {
			t.Fatal(err, errs[0])
		}
	}
	for _, step := range []struct {
		admins  []string
		roles   string
		changed int
	}{
		{[]string{"ann@acme.example", "bob@acme.example"}, "ann=admin bob=admin", 0},
		{[]string{"ann@acme.example"}, "ann=admin bob=member", 1},
		{[]string{"ann@acme.example"}, "ann=admin bob=member", 1},
		{[]string{"BOB@acme.example"}, "ann=member bob=admin", 3},
		{nil, "ann=member bob=admin", 3}, // bob is the last admin
	} {
		put(step.admins...)
		if got := roles(); got != step.roles || changes() != step.changed {
			t.Fatalf("after admins %v: %s with %d role changes announced; want %s and %d", step.admins, got, changes(), step.roles, step.changed)
		}
	}
}

// A confirmed user whose email domain a tenant claims joins it (as admin when listed); others get a
// personal tenant, announced once.
func TestActivationAssignsTheTenant(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	if _, err := s.PutTenant(ctx, store.Tenant{ID: "acme", DisplayName: "Acme", EmailDomains: []string{"acme.example"}, Admins: []string{"boss@acme.example"}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user, email, tenant, role string
		tenantCreated             bool
	}{
		{"u-boss", "boss@acme.example", "acme", "admin", false},
		{"u-worker", "Worker@ACME.example", "acme", "member", false},
		{"u-solo", "solo@example.com", domain.PersonalTenantID("u-solo"), "admin", true},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			batch := []events.Decoded{
				event(t, events.UserRegistered, "reg-"+tt.user, tt.user, &eventsv1.UserRegistered{UserId: tt.user, Email: tt.email, Realm: "bbq", EmailVerified: true}),
			}
			if _, errs, err := s.ApplyBatch(ctx, batch); err != nil || errs[0] != nil {
				t.Fatal(err, errs[0])
			}
			var tenant, role string
			if err := s.Pool().QueryRow(ctx, `SELECT tenant_id, role FROM users WHERE id = $1`, tt.user).Scan(&tenant, &role); err != nil {
				t.Fatal(err)
			}
			var announced int
			if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM outbox WHERE subject = $1 AND convert_from(event, 'UTF8') LIKE '%' || $2 || '%'`,
				events.TenantCreated.Subject, tt.user).Scan(&announced); err != nil {
				t.Fatal(err)
			}
			if tenant != tt.tenant || role != tt.role || (announced == 1) != tt.tenantCreated {
				t.Fatalf("tenant %s role %s TenantCreated %d; want %s %s %v", tenant, role, announced, tt.tenant, tt.role, tt.tenantCreated)
			}
		})
	}
}

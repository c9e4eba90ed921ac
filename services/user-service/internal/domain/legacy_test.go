package domain_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectedbbq/platform/pkg/events"
	eventsv1 "github.com/connectedbbq/platform/pkg/gen/bbq/events/v1"
	"github.com/connectedbbq/platform/services/user-service/internal/domain"
)

// decoded is an IdP event as it comes off the bus, at t0 + at seconds.
func decoded(t *testing.T, k events.Kind, id string, at int, data proto.Message) domain.Event {
	t.Helper()
	ev, err := events.New(k, events.Meta{ID: id, Source: events.IdPSource("bbq"), Subject: "u1", Time: t0.Add(time.Duration(at) * time.Second)}, data)
	if err != nil {
		t.Fatal(err)
	}
	d, err := domain.FromDecoded(events.Decoded{Event: ev, Kind: k, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func state(email, first string, verified, enabled bool, at int) *eventsv1.UserState {
	return &eventsv1.UserState{Email: email, UserName: email, FirstName: first, EmailVerified: verified, Enabled: enabled,
		ObservedAt: timestamppb.New(t0.Add(time.Duration(at) * time.Second))}
}

// Events without a state (providers older than 0.3) are read as partial states at the event's time, with
// today's rules; and events with one use it whole.
func TestEventsWithAndWithoutState(t *testing.T) {
	reg := func(at int, email, name string, verified bool) domain.Event {
		return decoded(t, events.UserRegistered, "reg", at, &eventsv1.UserRegistered{UserId: "u1", Email: email, UserName: email, Name: name, EmailVerified: verified, Realm: "bbq"})
	}
	ver := func(at int, email string) domain.Event {
		return decoded(t, events.UserEmailVerified, "ver", at, &eventsv1.UserEmailVerified{UserId: "u1", Email: email, Realm: "bbq"})
	}
	prof := func(at int, email, name string) domain.Event {
		return decoded(t, events.UserProfileUpdated, "prof", at, &eventsv1.UserProfileUpdated{UserId: "u1", Email: email, Name: name, Realm: "bbq"})
	}
	tests := []struct {
		name            string
		events          []domain.Event
		status          domain.Status
		email, userName string
		verified        bool
		tenant          string
	}{
		{"register then verify", []domain.Event{reg(1, "a@x.example", "A", false), ver(2, "")},
			domain.Active, "a@x.example", "A", true, domain.PersonalTenantID("u1")},
		{"verify before register", []domain.Event{ver(2, ""), reg(1, "a@x.example", "A", false)},
			domain.Active, "a@x.example", "A", true, domain.PersonalTenantID("u1")},
		{"registered verified", []domain.Event{reg(1, "boss@acme.example", "B", true)},
			domain.Active, "boss@acme.example", "B", true, "acme"},
		{"defect 1: stale verification of the old email", []domain.Event{reg(1, "att@free.example", "A", false), prof(3, "boss@acme.example", ""), ver(2, "att@free.example")},
			domain.Active, "boss@acme.example", "A", false, domain.PersonalTenantID("u1")},
		{"defect 2: an email change clears verified", []domain.Event{reg(1, "att@free.example", "A", false), ver(2, "att@free.example"), prof(3, "boss@acme.example", "")},
			domain.Active, "boss@acme.example", "A", false, domain.PersonalTenantID("u1")},
		{"defect 3: a late registration keeps the newer name", []domain.Event{reg(1, "a@x.example", "Old", false), prof(3, "", "New Name"), reg(1, "a@x.example", "Old", false)},
			domain.Pending, "a@x.example", "New Name", false, ""},
		{"defect 3, the late one first", []domain.Event{prof(3, "", "New Name"), reg(1, "a@x.example", "Old", false)},
			domain.Pending, "a@x.example", "New Name", false, ""},
		{"defect 4: a brokered registration whose state is verified",
			[]domain.Event{decoded(t, events.UserRegistered, "reg", 1, &eventsv1.UserRegistered{UserId: "u1", Email: "b@x.example", Realm: "bbq",
				Method: eventsv1.RegistrationMethod_REGISTRATION_METHOD_BROKERED, State: state("b@x.example", "Bo", true, true, 1)})},
			domain.Active, "b@x.example", "Bo", true, domain.PersonalTenantID("u1")},
		{"a listed admin outside the domains", []domain.Event{reg(1, "consultant@free.example", "C", true)},
			domain.Active, "consultant@free.example", "C", true, "acme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := domain.NewUser("u1", t0)
			for _, ev := range tt.events {
				if _, err := u.Apply(context.Background(), ev, acme, t0); err != nil {
					t.Fatal(err)
				}
			}
			if u.Status != tt.status || u.Email != tt.email || u.Name != tt.userName || u.EmailVerified != tt.verified || u.TenantID != tt.tenant {
				t.Fatalf("user %+v", u)
			}
		})
	}
}

// A state change must carry its state; a type the service does not consume is refused.
func TestInvalidEvents(t *testing.T) {
	for _, tt := range []struct {
		k    events.Kind
		data proto.Message
	}{
		{events.UserStateChanged, &eventsv1.UserStateChanged{UserId: "u1", Cause: "UPDATE_EMAIL"}},
		{events.UserCreated, &eventsv1.UserCreated{User: &eventsv1.User{UserId: "u1"}}},
	} {
		ev, err := events.New(tt.k, events.Meta{ID: "x", Source: events.IdPSource("bbq"), Subject: "u1", Time: t0}, tt.data)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := domain.FromDecoded(events.Decoded{Event: ev, Kind: tt.k, Data: tt.data}); !errors.Is(err, domain.ErrInvalidEvent) {
			t.Errorf("%s: %v, want ErrInvalidEvent", tt.k.Type, err)
		}
	}
}

// Defect 5: the API's UserUpdated is the consumer's: the same User (user name, created at), the tenant
// events' subject is the tenant id.
func TestRenameAnnouncesTheSameUser(t *testing.T) {
	u := domain.NewUser("u1", t0)
	c, err := u.Apply(context.Background(), register.event(), acme, t0.Add(time.Minute))
	if err != nil || len(c.Announce) != 0 {
		t.Fatal(err, c)
	}
	c, err = u.Apply(context.Background(), verify.event(), acme, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	created := c.Announce[len(c.Announce)-1].Data.(*eventsv1.UserCreated).GetUser()
	for _, a := range c.Announce[:len(c.Announce)-1] {
		if a.Subject != u.TenantID {
			t.Errorf("%s subject %s, want the tenant %s", a.Kind.Type, a.Subject, u.TenantID)
		}
	}
	r, err := u.Rename("Ada Lovelace")
	if err != nil || !r.SyncKeycloak || len(r.Announce) != 1 {
		t.Fatal(err, r)
	}
	updated := r.Announce[0].Data.(*eventsv1.UserUpdated)
	want := proto.Clone(created).(*eventsv1.User)
	want.Name = "Ada Lovelace"
	if !proto.Equal(updated.GetUser(), want) || updated.GetUser().GetUserName() == "" || !updated.GetUser().GetCreatedAt().AsTime().Equal(t0) {
		t.Fatalf("UserUpdated %v; want %v", updated.GetUser(), want)
	}
	if _, err := domain.NewUser("u2", t0).Rename("X"); !errors.Is(err, domain.ErrNotActive) {
		t.Fatalf("rename of a pending user: %v", err)
	}
}

func TestPlace(t *testing.T) {
	tests := []struct {
		email, tenant string
		role          domain.Role
	}{
		{"boss@acme.example", "acme", domain.Admin},
		{"Worker@ACME.example", "acme", domain.Member},
		{"consultant@free.example", "acme", domain.Admin},
		{"solo@free.example", domain.PersonalTenantID("u1"), domain.Admin},
		{"", domain.PersonalTenantID("u1"), domain.Admin},
	}
	for _, tt := range tests {
		p, err := domain.Place(context.Background(), acme, "u1", tt.email, "x's tenant")
		if err != nil || p.TenantID != tt.tenant || p.Role != tt.role || p.Personal != (tt.tenant != "acme") {
			t.Errorf("%q: %+v %v; want %s %s", tt.email, p, err, tt.tenant, tt.role)
		}
	}
}

// An admin disabling an active account is announced (Keycloak's `enabled`), and so is enabling it again.
func TestEnabledChangeIsAnnounced(t *testing.T) {
	u := domain.NewUser("u1", t0)
	for _, s := range []step{register, verify} {
		if _, err := u.Apply(context.Background(), s.event(), acme, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	off := step{"admin-disable", domain.KindStateChanged, 3, id("att@free.example", "Ada", true, false)}
	on := step{"admin-enable", domain.KindStateChanged, 4, id("att@free.example", "Ada", true, true)}
	for _, tc := range []struct {
		s       step
		enabled bool
	}{{off, false}, {on, true}} {
		c, err := u.Apply(context.Background(), tc.s.event(), acme, t0.Add(time.Hour))
		if err != nil || len(c.Announce) != 1 {
			t.Fatalf("%s: %v %v", tc.s.name, err, c.Announce)
		}
		up := c.Announce[0].Data.(*eventsv1.UserUpdated)
		if !slices.Equal(up.GetChangedFields(), []string{"enabled"}) || up.GetUser().GetEnabled() != tc.enabled || u.Status != domain.Active {
			t.Fatalf("%s: %v %v, status %s", tc.s.name, up.GetChangedFields(), up.GetUser(), u.Status)
		}
	}
}

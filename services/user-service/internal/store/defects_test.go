package store_test

// The five defects of issue 13, each at the level of the store (real Postgres) or the consumer (real
// JetStream as well). Only APIs that existed before the fix are used, so that the file also runs against it.

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectedbbq/platform/pkg/bus"
	"github.com/connectedbbq/platform/pkg/events"
	eventsv1 "github.com/connectedbbq/platform/pkg/gen/bbq/events/v1"
	"github.com/connectedbbq/platform/services/user-service/internal/consumer"
	"github.com/connectedbbq/platform/services/user-service/internal/store"
	"github.com/connectedbbq/platform/testing/natstest"
)

var t1 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// eventAt is an IdP event of Keycloak time t1 + sec seconds.
func eventAt(t *testing.T, k events.Kind, id, user string, sec int, data proto.Message) events.Decoded {
	t.Helper()
	ev, err := events.New(k, events.Meta{ID: id, Source: events.IdPSource("bbq"), Subject: user, Time: t1.Add(time.Duration(sec) * time.Second)}, data)
	if err != nil {
		t.Fatal(err)
	}
	return events.Decoded{Event: ev, Kind: k, Data: data}
}

// kcState is the account as the 0.3 provider attaches it, held by Keycloak at t1 + sec.
func kcState(email, first string, verified bool, sec int, idps ...string) *eventsv1.UserState {
	return &eventsv1.UserState{Email: email, UserName: email, FirstName: first, EmailVerified: verified, Enabled: true,
		IdentityProviders: idps, ObservedAt: timestamppb.New(t1.Add(time.Duration(sec) * time.Second))}
}

// applyEach applies the events one transaction each, in the order given (as retries and workers deliver them).
func applyEach(t *testing.T, s *store.Store, ds ...events.Decoded) {
	t.Helper()
	for _, d := range ds {
		if _, err := s.Apply(context.Background(), d); err != nil {
			t.Fatalf("%s %s: %v", d.Event.Type(), d.Event.ID(), err)
		}
	}
}

type row struct {
	Email, Name, Status, Tenant, Role string
	Verified                          bool
}

func readUser(t *testing.T, s *store.Store, id string) row {
	t.Helper()
	var r row
	err := s.Pool().QueryRow(context.Background(), `SELECT email, name, status, COALESCE(tenant_id, ''), COALESCE(role, ''), email_verified
		FROM users WHERE id = $1`, id).Scan(&r.Email, &r.Name, &r.Status, &r.Tenant, &r.Role, &r.Verified)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func declareAcme(t *testing.T, s *store.Store) {
	t.Helper()
	if _, err := s.PutTenant(context.Background(), store.Tenant{ID: "acme", DisplayName: "Acme", EmailDomains: []string{"acme.example"},
		Admins: []string{"boss@acme.example"}}); err != nil {
		t.Fatal(err)
	}
}

// staleVerification is Keycloak's REGISTER(att) -> VERIFY_EMAIL(att) -> email changed to boss@acme.example,
// delivered as REGISTER, UPDATE_PROFILE, VERIFY_EMAIL; withState says whether the provider attached states.
func staleVerification(t *testing.T, user string, withState bool) []events.Decoded {
	st := func(s *eventsv1.UserState) *eventsv1.UserState {
		if withState {
			return s
		}
		return nil
	}
	return []events.Decoded{
		eventAt(t, events.UserRegistered, "reg-"+user, user, 1, &eventsv1.UserRegistered{UserId: user, Email: "att@free.example",
			UserName: "att@free.example", Name: "Att", Realm: "bbq", State: st(kcState("att@free.example", "Att", false, 1))}),
		eventAt(t, events.UserProfileUpdated, "upd-"+user, user, 3, &eventsv1.UserProfileUpdated{UserId: user, Email: "boss@acme.example",
			Realm: "bbq", State: st(kcState("boss@acme.example", "Att", false, 3))}),
		eventAt(t, events.UserEmailVerified, "ver-"+user, user, 2, &eventsv1.UserEmailVerified{UserId: user, Email: "att@free.example",
			Realm: "bbq", State: st(kcState("att@free.example", "Att", true, 2))}),
	}
}

// Defect 1: a stale verification of the old email never makes the person admin (or member) of the tenant
// that declares the new, unverified email's domain.
func TestDefect1StaleVerificationPlacesNobody(t *testing.T) {
	s := open(t)
	declareAcme(t, s)
	for _, withState := range []bool{true, false} {
		user := map[bool]string{true: "u-state", false: "u-legacy"}[withState]
		applyEach(t, s, staleVerification(t, user, withState)...)
		r := readUser(t, s, user)
		if r.Tenant == "acme" || r.Status != "active" || r.Role != "admin" {
			t.Errorf("%s: %+v; want active, admin of its own tenant, not of acme", user, r)
		}
		if r.Email != "boss@acme.example" || r.Verified {
			t.Errorf("%s: %+v; want Keycloak's newest: boss@acme.example, unverified", user, r)
		}
	}
}

// Defect 2: an email change clears email_verified, in the row and in what is announced.
func TestDefect2EmailChangeClearsVerified(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	for _, withState := range []bool{true, false} {
		user := map[bool]string{true: "u-state", false: "u-legacy"}[withState]
		var st *eventsv1.UserState
		if withState {
			st = kcState("new@example.com", "Ann", false, 5)
		}
		applyEach(t, s,
			eventAt(t, events.UserRegistered, "reg-"+user, user, 1, &eventsv1.UserRegistered{UserId: user, Email: "old@example.com",
				Name: "Ann", Realm: "bbq", EmailVerified: true, State: map[bool]*eventsv1.UserState{true: kcState("old@example.com", "Ann", true, 1)}[withState]}),
			eventAt(t, events.UserProfileUpdated, "upd-"+user, user, 5, &eventsv1.UserProfileUpdated{UserId: user, Email: "new@example.com", Realm: "bbq", State: st}))
		if r := readUser(t, s, user); r.Email != "new@example.com" || r.Verified {
			t.Errorf("%s: %+v; want new@example.com, unverified", user, r)
		}
		var body []byte
		if err := s.Pool().QueryRow(ctx, `SELECT event FROM outbox WHERE subject = $1 AND convert_from(event, 'UTF8') LIKE '%' || $2 || '%'
			ORDER BY seq DESC LIMIT 1`, events.UserUpdated.Subject, user).Scan(&body); err != nil {
			t.Fatalf("%s: no UserUpdated: %v", user, err)
		}
		var up eventsv1.UserUpdated
		decodeData(t, body, &up)
		if up.GetUser().GetEmailVerified() {
			t.Errorf("%s: announced %v; want email_verified false", user, up.GetUser())
		}
	}
}

// Defect 3: the newest state wins, whichever is applied last.
func TestDefect3NewestWins(t *testing.T) {
	s := open(t)
	for _, withState := range []bool{true, false} {
		user := map[bool]string{true: "u-state", false: "u-legacy"}[withState]
		st := func(first string, sec int) *eventsv1.UserState {
			if withState {
				return kcState("n@example.com", first, false, sec)
			}
			return nil
		}
		applyEach(t, s,
			eventAt(t, events.UserProfileUpdated, "upd-"+user, user, 3, &eventsv1.UserProfileUpdated{UserId: user, Name: "New Name", Realm: "bbq", State: st("New Name", 3)}),
			eventAt(t, events.UserRegistered, "reg-"+user, user, 1, &eventsv1.UserRegistered{UserId: user, Email: "n@example.com", Name: "Old", Realm: "bbq", State: st("Old", 1)}),
			// Two updates that two workers applied in the wrong order.
			eventAt(t, events.UserProfileUpdated, "upd3-"+user, user, 7, &eventsv1.UserProfileUpdated{UserId: user, Name: "Third", Realm: "bbq", State: st("Third", 7)}),
			eventAt(t, events.UserProfileUpdated, "upd2-"+user, user, 6, &eventsv1.UserProfileUpdated{UserId: user, Name: "Second", Realm: "bbq", State: st("Second", 6)}))
		if r := readUser(t, s, user); r.Name != "Third" || r.Email != "n@example.com" {
			t.Errorf("%s: %+v; want the newest name, Third", user, r)
		}
	}
}

// Defect 4: a brokered registration (only the email in its details) whose state says the email is
// verified makes the user active. (Without a state, the sweep does it: internal/sweep.)
func TestDefect4BrokeredRegistrationActivates(t *testing.T) {
	s := open(t)
	applyEach(t, s, eventAt(t, events.UserRegistered, "reg-b", "u-b", 1, &eventsv1.UserRegistered{UserId: "u-b", Email: "b@partner.example",
		Realm: "bbq", Method: eventsv1.RegistrationMethod_REGISTRATION_METHOD_BROKERED, State: kcState("b@partner.example", "Bea", true, 1, "partner")}))
	if r := readUser(t, s, "u-b"); r.Status != "active" || !r.Verified || r.Name != "Bea" {
		t.Fatalf("%+v; want active, verified, named Bea", r)
	}
}

// Defect 5: the API's UserUpdated carries the same user as the consumer's events (user name, created at),
// and tenant events have the tenant id as subject.
func TestDefect5OneShapeOfEvents(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	declareAcme(t, s)
	applyEach(t, s, signUp(t, "u-solo")...)
	applyEach(t, s, eventAt(t, events.UserRegistered, "reg-boss", "u-boss", 1, &eventsv1.UserRegistered{UserId: "u-boss",
		Email: "boss@acme.example", UserName: "boss@acme.example", Realm: "bbq", EmailVerified: true}))
	solo := readUser(t, s, "u-solo")
	if _, err := s.UpdateName(ctx, store.Caller{UserID: "u-solo", TenantID: solo.Tenant}, "Solo Renamed"); err != nil {
		t.Fatal(err)
	}
	var created, updated *eventsv1.User
	rows, err := s.Pool().Query(ctx, `SELECT event FROM outbox ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	tenantEvents := 0
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			t.Fatal(err)
		}
		d, err := events.Decode(body)
		if err != nil {
			t.Fatal(err)
		}
		switch data := d.Data.(type) {
		case *eventsv1.UserCreated:
			if data.GetUser().GetUserId() == "u-solo" {
				created = data.GetUser()
			}
		case *eventsv1.UserUpdated:
			updated = data.GetUser()
		case *eventsv1.TenantCreated:
			tenantEvents++
			if d.Event.Subject() != data.GetTenantId() {
				t.Errorf("TenantCreated of %s has subject %s", data.GetTenantId(), d.Event.Subject())
			}
		case *eventsv1.TenantMemberAdded:
			tenantEvents++
			if d.Event.Subject() != data.GetTenantId() {
				t.Errorf("TenantMemberAdded of %s has subject %s", data.GetTenantId(), d.Event.Subject())
			}
		}
	}
	if tenantEvents != 4 || created == nil || updated == nil { // acme declared, solo's tenant, two members
		t.Fatalf("tenant events %d, UserCreated %v, UserUpdated %v", tenantEvents, created, updated)
	}
	want := proto.Clone(created).(*eventsv1.User)
	want.Name = "Solo Renamed"
	if !proto.Equal(updated, want) {
		t.Fatalf("the API's UserUpdated has\n %v\nthe consumer's UserCreated (renamed)\n %v", updated, want)
	}
}

// Defect 1 through the consumer: the events published on a real JetStream in the order of the defect.
func TestDefect1ThroughTheConsumer(t *testing.T) {
	s := open(t)
	declareAcme(t, s)
	b := natstest.New(t)
	pub := bus.NewPublisher(b.JS)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, d := range staleVerification(t, "u-bus", true) {
		if _, err := pub.Publish(ctx, d.Kind.Subject, d.Event); err != nil {
			t.Fatal(err)
		}
	}
	c := consumer.New(consumer.Config{Stream: b.Config.Stream, Durable: "user-service", MaxDeliver: 3, BackOff: []time.Duration{time.Second},
		AckWait: 5 * time.Second, Workers: 1, BatchSize: 1}, b.JS, s, slog.New(slog.DiscardHandler), consumer.NewMetrics(prometheus.NewRegistry()))
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	var processed int
	for processed < 3 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM processed_events WHERE id LIKE '%-u-bus'`).Scan(&processed); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r := readUser(t, s, "u-bus"); processed != 3 || r.Tenant == "acme" || r.Status != "active" || r.Verified {
		t.Fatalf("processed %d, user %+v; want active in its own tenant, unverified", processed, r)
	}
}

func decodeData(t *testing.T, body []byte, m proto.Message) {
	t.Helper()
	var ev struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatal(err)
	}
	if err := protojson.Unmarshal(ev.Data, m); err != nil {
		t.Fatal(err)
	}
}

// The write-back sends our name to Keycloak only after a rename through the API: at activation our copy of
// the name may be older than Keycloak's (an admin renamed the person meanwhile), and sending it would undo that.
func TestWritebackSendsTheNameOnlyAfterARename(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	applyEach(t, s, signUp(t, "u-named")...)
	jobs, err := s.ClaimKeycloakSyncs(ctx, 10, time.Minute)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim after activation: %v, %v", jobs, err)
	}
	if jobs[0].TenantID == "" || jobs[0].Name != "" {
		t.Fatalf("activation job = %+v, want the tenant and no name", jobs[0])
	}
	if err := s.KeycloakSynced(ctx, jobs[0]); err != nil {
		t.Fatal(err)
	}
	u := readUser(t, s, "u-named")
	if _, err := s.UpdateName(ctx, store.Caller{UserID: "u-named", TenantID: u.Tenant}, "Chosen Name"); err != nil {
		t.Fatal(err)
	}
	jobs, err = s.ClaimKeycloakSyncs(ctx, 10, time.Minute)
	if err != nil || len(jobs) != 1 || jobs[0].Name != "Chosen Name" {
		t.Fatalf("claim after a rename: %+v, %v; want the name", jobs, err)
	}
}

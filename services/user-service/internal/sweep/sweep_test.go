package sweep_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/connectedbbq/platform/pkg/events"
	eventsv1 "github.com/connectedbbq/platform/pkg/gen/bbq/events/v1"
	"github.com/connectedbbq/platform/pkg/keycloak"
	"github.com/connectedbbq/platform/services/user-service/internal/store"
	"github.com/connectedbbq/platform/services/user-service/internal/store/storetest"
	"github.com/connectedbbq/platform/services/user-service/internal/sweep"
	"github.com/connectedbbq/platform/testing/kctest"
	"github.com/connectedbbq/platform/testing/pgtest"
)

var (
	pg *pgtest.Server
	kc *kctest.Keycloak
)

func TestMain(m *testing.M) {
	srv, stop, err := pgtest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pg = srv
	code := kctest.Main(m, &kc)
	stop()
	os.Exit(code)
}

// register applies what a brokered first sign-in sends: REGISTER with only the email, no state.
func register(t *testing.T, s *store.Store, realm, id, email string) {
	t.Helper()
	data := &eventsv1.UserRegistered{UserId: id, Email: email, Realm: realm, Method: eventsv1.RegistrationMethod_REGISTRATION_METHOD_BROKERED}
	ev, err := events.New(events.UserRegistered, events.Meta{ID: "reg-" + id, Source: events.IdPSource(realm), Subject: id, Time: time.Now()}, data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(context.Background(), events.Decoded{Event: ev, Kind: events.UserRegistered, Data: data}); err != nil {
		t.Fatal(err)
	}
}

func status(t *testing.T, s *store.Store, id string) (st, name string, verified bool) {
	t.Helper()
	if err := s.Pool().QueryRow(context.Background(), `SELECT status, name, email_verified FROM users WHERE id = $1`, id).Scan(&st, &name, &verified); err != nil {
		t.Fatal(err)
	}
	return st, name, verified
}

// Defect 4 of issue 13, the path without a state: a user Keycloak holds verified and enabled, of whom the
// service heard only a REGISTER with the email, is active after the sweep; one still unverified stays
// pending and is not read again within the period; one Keycloak no longer has is deleted.
func TestSweepBringsPendingUsersInLine(t *testing.T) {
	ctx := context.Background()
	realm := kctest.NewRealm(t, kc, kctest.Options{})
	admin := realm.Admin(t)
	verified, err := admin.CreateUser(ctx, keycloak.User{Username: "bea@partner.example", Email: "bea@partner.example", EmailVerified: true,
		Enabled: true, FirstName: "Bea", LastName: "Broker"})
	if err != nil {
		t.Fatal(err)
	}
	unverified, err := admin.CreateUser(ctx, keycloak.User{Username: "una@example.com", Email: "una@example.com", Enabled: true, FirstName: "Una"})
	if err != nil {
		t.Fatal(err)
	}
	gone := uuid.NewString()
	s := storetest.Open(t, pg)
	register(t, s, realm.Name, verified, "bea@partner.example")
	register(t, s, realm.Name, unverified, "una@example.com")
	register(t, s, realm.Name, gone, "gone@example.com")

	after := 3 * time.Second
	w := sweep.New(sweep.Config{After: after, Realm: realm.Name}, s, admin, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if n, err := w.Round(ctx); err != nil || n != 0 {
		t.Fatalf("a round before the users are due applied %d (%v)", n, err)
	}
	time.Sleep(after + 100*time.Millisecond)
	t0 := time.Now()
	if n, err := w.Round(ctx); err != nil || n != 3 {
		t.Fatalf("round applied %d, want 3 (%v)", n, err)
	}
	t.Logf("a round of 3 users took %s", time.Since(t0).Round(time.Millisecond))
	if st, name, ok := status(t, s, verified); st != "active" || !ok || name != "Bea Broker" {
		t.Errorf("verified user: %s %q verified=%v; want active, Bea Broker, verified", st, name, ok)
	}
	if st, _, _ := status(t, s, unverified); st != "pending" {
		t.Errorf("unverified user: %s, want pending", st)
	}
	if st, _, _ := status(t, s, gone); st != "deleted" {
		t.Errorf("user gone from Keycloak: %s, want deleted", st)
	}
	var created int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM outbox WHERE subject = $1`, events.UserCreated.Subject).Scan(&created); err != nil {
		t.Fatal(err)
	}
	if created != 1 {
		t.Errorf("UserCreated %d, want 1", created)
	}
	if n, err := w.Round(ctx); err != nil || (n != 0 && time.Since(t0) < after) {
		t.Fatalf("a round right after read %d users again (%v); want none within the period", n, err)
	}
}

package reconcile_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/connectedbbq/platform/pkg/bus"
	"github.com/connectedbbq/platform/pkg/events"
	"github.com/connectedbbq/platform/pkg/keycloak"
	"github.com/connectedbbq/platform/services/idp-hook/internal/reconcile"
	"github.com/connectedbbq/platform/testing/kctest"
	"github.com/connectedbbq/platform/testing/natstest"
)

// recording publishes through the real bus and keeps what it was asked to publish.
type recording struct {
	pub reconcile.Publisher
	mu  sync.Mutex
	evs []cloudevents.Event
	new int // not dropped by the bus as duplicates
}

func (p *recording) Publish(ctx context.Context, subject string, ev cloudevents.Event) (*jetstream.PubAck, error) {
	ack, err := p.pub.Publish(ctx, subject, ev)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.evs = append(p.evs, ev)
	if err == nil && !ack.Duplicate {
		p.new++
	}
	return ack, err
}

func (p *recording) take() (evs []cloudevents.Event, fresh int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	evs, fresh, p.evs, p.new = p.evs, p.new, nil, 0
	return evs, fresh
}

// counting counts the reconciler's requests to Keycloak by method and first path segment after the realm.
type counting struct {
	rt http.RoundTripper
	mu sync.Mutex
	n  map[string]int
}

func (c *counting) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.n[requestKind(req)]++
	c.mu.Unlock()
	return c.rt.RoundTrip(req)
}

func requestKind(req *http.Request) string {
	_, rest, _ := strings.Cut(req.URL.Path, "/admin/realms/")
	_, rest, _ = strings.Cut(rest, "/")
	what, id, _ := strings.Cut(rest, "/")
	switch {
	case what == "users" && id != "":
		return req.Method + " users/{id}"
	case what == "bbq":
		seg, _, _ := strings.Cut(id, "/")
		return req.Method + " bbq/" + seg
	}
	return req.Method + " " + what
}

func (c *counting) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = map[string]int{}
	return n
}

// Passes over a realm whose id is not its name (a UUID, as Keycloak gives new realms), with more events than
// the checkpoint keeps ids of: the first pass publishes each stored event and one state per user, all with
// the realm's name as source; the passes after it publish nothing and read no user.
func TestASecondPassOverTheSameWindowPublishesNothing(t *testing.T) {
	ctx := context.Background()
	// A fresh id each run: Keycloak keeps a deleted realm's stored events under its id.
	id := uuid.NewString()
	realm := kctest.NewRealm(t, kc, kctest.Options{Realm: func(rep map[string]any) { rep["id"] = id }})
	const admins = 12
	users := createUsers(t, realm, admins)
	signedUp, _ := realm.ConfirmedUser(t, "self@example.com", "Pa55word-long-enough", "Self Service")
	users[signedUp] = true

	r, pub, reqs := countedReconciler(t, realm, reconcile.Config{Overlap: time.Minute, MaxSeen: 5}, nil)

	if _, err := r.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	evs, fresh := pub.take()
	states := map[string]int{}
	for _, ev := range evs {
		if want := events.IdPSource(realm.Name); ev.Source() != want {
			t.Fatalf("event %s (%s) has source %q, want the realm's name %q", ev.ID(), ev.Type(), ev.Source(), want)
		}
		if ev.Type() == events.UserStateChanged.Type && strings.HasPrefix(ev.ID(), "reconcile-") {
			states[ev.Subject()]++
		}
	}
	// Each admin-created user: its CREATE and one state; the signed-up user: REGISTER, VERIFY_EMAIL (and what
	// else the realm stored about it) and one state a page.
	if len(states) != len(users) || fresh != len(evs) || fresh < 2*len(users) {
		t.Fatalf("first pass: %d events, %d new, states of %d users; want at least %d new, all new, a state for each of %d users",
			len(evs), fresh, len(states), 2*len(users), len(users))
	}
	first := reqs.take()
	// The users are read in bulk (the provider's POST bbq/users/states), a request per page of events at most;
	// admin events are listed by the provider (GET bbq/admin-events), not by Keycloak's list.
	if first["GET users/{id}"] != 0 || first["POST bbq/users"] < 1 || first["POST bbq/users"] > len(users) ||
		first["GET bbq/admin-events"] < 1 || first["GET admin-events"] != 0 {
		t.Errorf("first pass: %d single reads and %d bulk reads for %d users, want none and a few; admin events listed by the provider (requests: %v)",
			first["GET users/{id}"], first["POST bbq/users"], len(users), first)
	}
	t.Logf("first pass: %d events for %d users; Keycloak requests %v", len(evs), len(users), first)

	for pass := 2; pass <= 3; pass++ {
		if _, err := r.Pass(ctx); err != nil {
			t.Fatal(err)
		}
		if evs, _ := pub.take(); len(evs) != 0 {
			t.Fatalf("pass %d published %d events (first %s), want none", pass, len(evs), evs[0].ID())
		}
		if n := reqs.take(); n["GET users/{id}"] != 0 || n["POST bbq/users"] != 0 {
			t.Fatalf("pass %d read users (requests: %v), want none", pass, n)
		}
	}
}

// createUsers creates n users through the admin API, which stores an admin USER CREATE for each.
func createUsers(t *testing.T, realm *kctest.Realm, n int) map[string]bool {
	t.Helper()
	admin, err := keycloak.New(keycloak.Config{BaseURL: kc.URL, Realm: realm.Name, TokenRealm: "master",
		ClientID: "admin-cli", Username: kc.AdminUser, Password: kc.AdminPassword})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for i := range n {
		email := fmt.Sprintf("admin-made%d@example.com", i)
		id, err := admin.CreateUser(context.Background(), keycloak.User{Username: email, Email: email, Enabled: true, EmailVerified: true, FirstName: "Made"})
		if err != nil {
			t.Fatal(err)
		}
		ids[id] = true
	}
	return ids
}

// withoutLister is a Keycloak whose bbq provider predates its list of admin events.
type withoutLister struct{ *keycloak.Client }

func (withoutLister) StoredAdminEvents(context.Context, time.Time, time.Time, int) ([]keycloak.AdminEvent, error) {
	return nil, fmt.Errorf("%w: HTTP 404", keycloak.ErrNoAdminEventsEndpoint)
}

// olderProvider is a Keycloak whose bbq provider predates the bulk read of users too.
type olderProvider struct{ withoutLister }

func (olderProvider) UserStates(context.Context, []string) ([]keycloak.User, error) {
	return nil, fmt.Errorf("%w: HTTP 404", keycloak.ErrNoStatesEndpoint)
}

// With an older provider, the pass lists Keycloak's own admin events and reads the users in bulk (POST
// bbq/users/states), or without that either, each with GET users/{id}; it publishes the same.
func TestAPassReadsUsersWithAnOlderProvider(t *testing.T) {
	for _, c := range []struct {
		name        string
		wrap        func(*keycloak.Client) reconcile.Keycloak
		read, reads string
	}{
		{"without the list of admin events", func(c *keycloak.Client) reconcile.Keycloak { return withoutLister{c} }, "POST bbq/users", "bulk"},
		{"without the bulk read either", func(c *keycloak.Client) reconcile.Keycloak { return olderProvider{withoutLister{c}} }, "GET users/{id}", "single"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			realm := kctest.NewRealm(t, kc, kctest.Options{})
			users := createUsers(t, realm, 3)
			r, pub, reqs := countedReconciler(t, realm, reconcile.Config{Overlap: time.Minute}, c.wrap)
			if _, err := r.Pass(ctx); err != nil {
				t.Fatal(err)
			}
			evs, _ := pub.take()
			states := map[string]bool{}
			for _, ev := range evs {
				if ev.Type() == events.UserStateChanged.Type {
					states[ev.Subject()] = true
				}
			}
			n := reqs.take()
			if len(states) != len(users) || n[c.read] < 1 || n["GET admin-events"] < 1 {
				t.Fatalf("states of %d users for %d, %d %s reads (requests: %v)", len(states), len(users), n[c.read], c.reads, n)
			}
			if c.reads == "single" && n[c.read] != len(users) {
				t.Fatalf("%d single reads for %d users (requests: %v)", n[c.read], len(users), n)
			}
		})
	}
}

// countedReconciler is a reconciler of realm as idp-hook, on its own bus, whose Keycloak requests are counted;
// wrap (nil: none) changes the Keycloak it sees.
func countedReconciler(t *testing.T, realm *kctest.Realm, cfg reconcile.Config, wrap func(*keycloak.Client) reconcile.Keycloak) (*reconcile.Reconciler, *recording, *counting) {
	t.Helper()
	b := natstest.New(t)
	kv, err := reconcile.EnsureBucket(context.Background(), b.JS, "idp-hook", 1)
	if err != nil {
		t.Fatal(err)
	}
	reqs := &counting{rt: http.DefaultTransport, n: map[string]int{}}
	client, err := keycloak.New(keycloak.Config{BaseURL: kc.URL, Realm: realm.Name, ClientID: "idp-hook",
		ClientSecret: realm.Secrets["idp-hook"], HTTPClient: &http.Client{Transport: reqs, Timeout: 15 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	var seen reconcile.Keycloak = client
	if wrap != nil {
		seen = wrap(client)
	}
	pub := &recording{pub: bus.NewPublisher(b.JS)}
	r := reconcile.New(cfg, seen, pub, kv, slog.New(slog.NewTextHandler(io.Discard, nil)), reconcile.NewMetrics(prometheus.NewRegistry()))
	return r, pub, reqs
}

package domain_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/connectedbbq/platform/pkg/events"
	eventsv1 "github.com/connectedbbq/platform/pkg/gen/bbq/events/v1"
	"github.com/connectedbbq/platform/services/user-service/internal/domain"
)

// directory is the declared tenants of the tests, in memory (the store's SQL does this in production).
type directory []domain.DeclaredTenant

func (d directory) DeclaredTenants(_ context.Context, email string) ([]domain.DeclaredTenant, error) {
	_, dom, _ := strings.Cut(email, "@")
	var out []domain.DeclaredTenant
	for _, t := range d {
		if slices.Contains(t.Domains, dom) || slices.Contains(t.Admins, email) {
			out = append(out, t)
		}
	}
	return out, nil
}

var acme = directory{{ID: "acme", Name: "Acme", Domains: []string{"acme.example"}, Admins: []string{"boss@acme.example", "consultant@free.example"}}}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// step is one event of a sequence, with a full state (what the 0.3 provider and the admin API send).
type step struct {
	name  string
	kind  domain.EventKind
	at    int // seconds after t0
	ident domain.Identity
}

func (s step) event() domain.Event {
	ev := domain.Event{ID: "ev-" + s.name, Kind: s.kind, Realm: "bbq", State: domain.State{ObservedAt: t0.Add(time.Duration(s.at) * time.Second)}}
	if s.kind != domain.KindDeleted {
		ev.State = domain.FullState(ev.State.ObservedAt, s.ident)
	}
	if s.kind == domain.KindRegistered {
		ev.Method = "self_service"
	}
	return ev
}

func id(email, name string, verified, enabled bool) domain.Identity {
	return domain.Identity{Email: email, UserName: email, Name: name, EmailVerified: verified, Enabled: enabled}
}

// Keycloak's real order for one person: sign up, verify, change the email, change the name, an admin
// disables and enables the account, the person verifies the new email, deletion.
var (
	register = step{"REGISTER", domain.KindRegistered, 1, id("att@free.example", "Ada", false, true)}
	verify   = step{"VERIFY_EMAIL", domain.KindEmailVerified, 2, id("att@free.example", "Ada", true, true)}
	newEmail = step{"UPDATE_PROFILE-email", domain.KindProfileUpdated, 3, id("boss@acme.example", "Ada", false, true)}
	newName  = step{"UPDATE_PROFILE-name", domain.KindProfileUpdated, 4, id("boss@acme.example", "Ada Boss", false, true)}
	disable  = step{"admin-disable", domain.KindStateChanged, 5, id("boss@acme.example", "Ada Boss", false, false)}
	enable   = step{"admin-enable", domain.KindStateChanged, 6, id("boss@acme.example", "Ada Boss", false, true)}
	verify2  = step{"VERIFY_EMAIL-boss", domain.KindEmailVerified, 7, id("boss@acme.example", "Ada Boss", true, true)}
	remove   = step{"DELETE", domain.KindDeleted, 8, domain.Identity{}}
	// An account an admin makes usable while it is disabled: confirmed only once enabled.
	lockedOut     = step{"admin-disable-early", domain.KindStateChanged, 2, id("att@free.example", "Ada", false, false)}
	adminVerifies = step{"admin-verify", domain.KindStateChanged, 3, id("att@free.example", "Ada", true, false)}
	unlocked      = step{"admin-enable-late", domain.KindStateChanged, 4, id("att@free.example", "Ada", true, true)}
	// Deletion is final whatever its time: here Keycloak's clock put it before everything else.
	earlyRemove = step{"DELETE-early", domain.KindDeleted, 0, domain.Identity{}}
)

// want is the one final state every delivery order of a sequence must reach.
type want struct {
	status   domain.Status
	identity domain.Identity
	created  int    // UserCreated announced
	tenant   string // where the first confirmed state's email placed the user (also once deleted)
	role     domain.Role
	atCreate domain.Identity // the identity UserCreated carries: the newest state delivered up to then
	removed  int
}

// expect is the rule in one place, written from the contract rather than from the code: identity is the
// newest state; the first confirmed state delivered activates, placed by its own email; deletion is final.
func expect(seq []step) want {
	var w want
	w.status = domain.Pending
	newest := -1
	for _, s := range seq {
		if w.status == domain.Deleted {
			continue
		}
		if s.kind == domain.KindDeleted {
			if w.status == domain.Active {
				w.removed = 1
			}
			w.status, w.identity = domain.Deleted, domain.Identity{}
			continue
		}
		if s.at > newest {
			newest, w.identity = s.at, s.ident
		}
		if w.status == domain.Pending && s.ident.Enabled && s.ident.EmailVerified {
			w.status, w.created, w.atCreate = domain.Active, 1, w.identity
			w.tenant, w.role = domain.PersonalTenantID("u1"), domain.Admin
			if s.ident.Email == "boss@acme.example" {
				w.tenant = "acme"
			}
		}
	}
	return w
}

type outcome struct {
	user *domain.User
	out  []domain.Announcement
}

func run(t *testing.T, seq []step) outcome {
	t.Helper()
	u := domain.NewUser("u1", t0)
	var o outcome
	for i, s := range seq {
		c, err := u.Apply(context.Background(), s.event(), acme, t0.Add(time.Hour+time.Duration(i)))
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		o.out = append(o.out, c.Announce...)
	}
	o.user = u
	return o
}

func check(t *testing.T, seq []step, o outcome, w want) {
	t.Helper()
	names := make([]string, len(seq))
	for i, s := range seq {
		names[i] = s.name
	}
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("order %v: %s", names, fmt.Sprintf(format, args...))
	}
	u := o.user
	ident := u.Identity
	ident.IdentityProviders = nil
	if u.Status != w.status || !equalIdentity(ident, w.identity) {
		fail("status %s identity %+v; want %s %+v", u.Status, ident, w.status, w.identity)
	}
	if w.status == domain.Active && (u.TenantID != w.tenant || u.Role != w.role) {
		fail("tenant %s role %s; want %s %s", u.TenantID, u.Role, w.tenant, w.role)
	}
	if w.status == domain.Deleted && (u.TenantID != "" || u.PlacedBy != "") {
		fail("a deleted user keeps tenant %q placed by %q", u.TenantID, u.PlacedBy)
	}
	counts := map[string]int{}
	for i, a := range o.out {
		counts[a.Kind.Type]++
		switch data := a.Data.(type) {
		case *eventsv1.UserCreated:
			got := data.GetUser()
			if got.GetEmail() != w.atCreate.Email || got.GetName() != w.atCreate.Name || got.GetEmailVerified() != w.atCreate.EmailVerified ||
				got.GetTenantId() != w.tenant || a.Subject != "u1" {
				fail("UserCreated %v; want the identity %+v in %s", got, w.atCreate, w.tenant)
			}
		case *eventsv1.TenantCreated, *eventsv1.TenantMemberAdded:
			if a.Subject != w.tenant {
				fail("%s subject %s; want the tenant %s", a.Kind.Type, a.Subject, w.tenant)
			}
		case *eventsv1.UserUpdated:
			if counts[events.UserCreated.Type] == 0 {
				fail("UserUpdated before UserCreated")
			}
		case *eventsv1.UserRemoved:
			if i != len(o.out)-1 {
				fail("events after UserRemoved")
			}
		}
	}
	if counts[events.UserCreated.Type] != w.created || counts[events.UserRemoved.Type] != w.removed {
		fail("announced %v; want %d UserCreated, %d UserRemoved", counts, w.created, w.removed)
	}
}

func equalIdentity(a, b domain.Identity) bool {
	return a.Email == b.Email && a.UserName == b.UserName && a.Name == b.Name && a.EmailVerified == b.EmailVerified && a.Enabled == b.Enabled
}

// permutations calls f with every distinct order of the multiset steps.
func permutations(steps []step, f func([]step)) {
	counts := map[string]int{}
	var distinct []step
	for _, s := range steps {
		if counts[s.name] == 0 {
			distinct = append(distinct, s)
		}
		counts[s.name]++
	}
	seq := make([]step, 0, len(steps))
	var rec func()
	rec = func() {
		if len(seq) == len(steps) {
			f(seq)
			return
		}
		for _, s := range distinct {
			if counts[s.name] == 0 {
				continue
			}
			counts[s.name]--
			seq = append(seq, s)
			rec()
			seq = seq[:len(seq)-1]
			counts[s.name]++
		}
	}
	rec()
}

// Every delivery order of each sequence, once with no duplicate, then with each event delivered twice, and
// (short sequences) with every event twice, ends in the one state the contract says.
func TestEveryOrderConverges(t *testing.T) {
	sequences := map[string][]step{
		"sign-up, email and name changes, admin disable and enable, delete": {register, verify, newEmail, newName, disable, enable, remove},
		"the same without deletion":                                         {register, verify, newEmail, newName, disable, enable},
		"the new email is verified too":                                     {register, verify, newEmail, verify2},
		"only the new email is ever verified":                               {register, newEmail, newName, verify2},
		"never confirmed":                                                   {register, newEmail, disable},
		"confirmed by an admin while disabled":                              {register, lockedOut, adminVerifies, unlocked},
		"disabled, verified, never enabled":                                 {register, lockedOut, adminVerifies},
		"deleted at the earliest time":                                      {register, verify, newEmail, earlyRemove},
	}
	for name, steps := range sequences {
		t.Run(name, func(t *testing.T) {
			orders := 0
			try := func(seq []step) {
				orders++
				check(t, seq, run(t, seq), expect(seq))
			}
			permutations(steps, try)
			for _, dup := range steps {
				permutations(append(slices.Clone(steps), dup), try)
			}
			if len(steps) <= 4 {
				permutations(append(slices.Clone(steps), steps...), try)
			}
			t.Logf("%d orders", orders)
		})
	}
}

// Defect 1 of issue 13, in the domain: a stale verification of the old email activates the user in its
// own tenant, never as admin of the tenant that declares the new, unverified email's domain.
func TestAStaleVerificationPlacesByTheEmailItVerified(t *testing.T) {
	o := run(t, []step{register, newEmail, verify})
	u := o.user
	if u.Status != domain.Active || u.TenantID != domain.PersonalTenantID("u1") || u.Role != domain.Admin || u.PlacedBy != "att@free.example" {
		t.Fatalf("user %+v", u)
	}
	if u.Email != "boss@acme.example" || u.EmailVerified {
		t.Fatalf("identity %+v; want the newest state: boss@acme.example, unverified", u.Identity)
	}
}

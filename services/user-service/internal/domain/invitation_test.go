package domain_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/connectedbbq/platform/pkg/events"
	eventsv1 "github.com/connectedbbq/platform/pkg/gen/bbq/events/v1"
	"github.com/connectedbbq/platform/services/user-service/internal/domain"
)

var (
	now  = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	lims = domain.InvitationLimits{}.WithDefaults()
)

func TestNormalizeEmail(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Bob@Example.COM", "bob@example.com"},
		{"  bob+bbq@mail.example.org ", "bob+bbq@mail.example.org"},
		{"bob", ""},
		{"bob@", ""},
		{"@example.com", ""},
		{"bob@localhost", ""},
		{"bob@example.", ""},
		{"Bob <bob@example.com>", ""},
		{"bob@exa mple.com", ""},
		{"bob@example.com\r\nBcc: eve@example.com", ""},
		{"a@b.c, d@e.f", ""},
		{string(make([]byte, 250)) + "@x.io", ""},
	} {
		got, err := domain.NormalizeEmail(tc.in)
		if got != tc.want || (tc.want == "") != errors.Is(err, domain.ErrInvalidEmail) {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestRateLimit(t *testing.T) {
	ago := func(d ...time.Duration) []time.Time {
		var out []time.Time
		for _, x := range d {
			out = append(out, now.Add(-x))
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		recent []time.Time
		limit  int
		retry  time.Duration // 0: allowed
	}{
		{"none yet", nil, 2, 0},
		{"one below", ago(time.Minute), 2, 0},
		{"at the limit: wait for the oldest to leave the hour", ago(10*time.Minute, 50*time.Minute), 2, 10 * time.Minute},
		{"older than an hour do not count", ago(61*time.Minute, 2*time.Hour), 2, 0},
		{"at least a second", ago(time.Hour - time.Millisecond), 1, time.Second},
	} {
		err := domain.RateLimit(tc.recent, tc.limit, now)
		var rl *domain.RateLimitError
		switch {
		case tc.retry == 0 && err != nil:
			t.Errorf("%s: %v; want allowed", tc.name, err)
		case tc.retry != 0 && (!errors.As(err, &rl) || rl.RetryAfter != tc.retry):
			t.Errorf("%s: %v; want retry after %s", tc.name, err, tc.retry)
		}
	}
}

func subjects(as []domain.Announcement) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Kind.Subject)
	}
	return out
}

func admins() domain.InviteScene {
	return domain.InviteScene{TenantID: "t", Actor: "ann", ActorRole: domain.Admin}
}

func pending(expires time.Time) *domain.Invitation {
	return &domain.Invitation{ID: "i1", TenantID: "t", Email: "bob@example.com", Role: domain.Member, Status: domain.InvitationPending,
		CreatedAt: expires.Add(-lims.TTL), ExpiresAt: expires, InvitedBy: "ann", TokenHash: []byte("old")}
}

func TestInvite(t *testing.T) {
	full := make([]time.Time, lims.PerHour)
	for i := range full {
		full[i] = now.Add(-time.Minute)
	}
	with := func(f func(*domain.InviteScene)) domain.InviteScene { s := admins(); f(&s); return s }
	for _, tc := range []struct {
		name  string
		scene domain.InviteScene
		role  domain.Role
		err   error
		want  []string
	}{
		{"admin invites", admins(), domain.Member, nil, []string{events.InvitationCreated.Subject}},
		{"a member may not", with(func(s *domain.InviteScene) { s.ActorRole = domain.Member }), domain.Member, domain.ErrNotInviter, nil},
		{"suspended tenant", with(func(s *domain.InviteScene) { s.Suspended = true }), domain.Member, domain.ErrInvitedTenantClosed, nil},
		{"no role", admins(), "", domain.ErrEmptyRole, nil},
		{"already a member", with(func(s *domain.InviteScene) { s.IsMember = true }), domain.Admin, domain.ErrAlreadyMember, nil},
		{"already invited", with(func(s *domain.InviteScene) { s.Pending = pending(now.Add(time.Hour)) }), domain.Member, domain.ErrAlreadyInvited, nil},
		{"the pending one expired: it is expired, then a new one made", with(func(s *domain.InviteScene) { s.Pending = pending(now) }), domain.Member, nil,
			[]string{events.InvitationExpired.Subject, events.InvitationCreated.Subject}},
		{"over the hourly limit", with(func(s *domain.InviteScene) { s.Recent = full }), domain.Member, &domain.RateLimitError{}, nil},
	} {
		c, err := domain.Invite(tc.scene, "i2", "bob@example.com", tc.role, lims, now)
		var rl, wantRL *domain.RateLimitError
		if errors.As(tc.err, &wantRL) {
			if !errors.As(err, &rl) {
				t.Errorf("%s: %v; want a rate limit", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, tc.err) || !slices.Equal(subjects(c.Announce), tc.want) {
			t.Errorf("%s: %v, %v; want %v, %v", tc.name, err, subjects(c.Announce), tc.err, tc.want)
		}
		if err != nil {
			continue
		}
		if i := c.Save; !c.Insert || i.Status != domain.InvitationPending || !i.ExpiresAt.Equal(now.Add(lims.TTL)) || c.Token == "" ||
			!bytes.Equal(domain.HashInvitationToken(c.Token), i.TokenHash) || len(c.Token) != 43 {
			t.Errorf("%s: saved %+v, token %q", tc.name, i, c.Token)
		}
		if got := c.Announce[len(c.Announce)-1].Data.(*eventsv1.InvitationCreated); got.GetInvitedByUserId() != "ann" || got.GetRole() != eventsv1.TenantRole_TENANT_ROLE_MEMBER {
			t.Errorf("%s: announced %v", tc.name, got)
		}
	}
}

func TestResendAndRevoke(t *testing.T) {
	accepted, revoked, expired := *pending(now.Add(time.Hour)), *pending(now.Add(time.Hour)), *pending(now.Add(-time.Hour))
	accepted.Status, accepted.AcceptedBy = domain.InvitationAccepted, "bob"
	revoked.Status = domain.InvitationRevoked
	expired.Status = domain.InvitationExpired
	for _, tc := range []struct {
		name string
		inv  domain.Invitation
		err  error
		want []string
	}{
		{"resend pending", *pending(now.Add(time.Hour)), nil, nil},
		{"resend pending past expiry: announced expired first", *pending(now), nil, []string{events.InvitationExpired.Subject}},
		{"resend expired", expired, nil, nil},
		{"resend accepted", accepted, domain.ErrNotPending, nil},
		{"resend revoked", revoked, domain.ErrNotPending, nil},
	} {
		c, err := domain.Resend(admins(), tc.inv, lims, now)
		if !errors.Is(err, tc.err) || !slices.Equal(subjects(c.Announce), tc.want) {
			t.Errorf("%s: %v, %v; want %v, %v", tc.name, err, subjects(c.Announce), tc.err, tc.want)
			continue
		}
		if err == nil && (c.Insert || c.Save.Status != domain.InvitationPending || bytes.Equal(c.Save.TokenHash, tc.inv.TokenHash) || c.Token == "" ||
			!c.Save.ExpiresAt.Equal(now.Add(lims.TTL))) {
			t.Errorf("%s: saved %+v", tc.name, c.Save)
		}
	}
	if _, err := domain.Resend(domain.InviteScene{ActorRole: domain.Member}, *pending(now), lims, now); !errors.Is(err, domain.ErrNotInviter) {
		t.Errorf("member resends: %v", err)
	}
	for _, tc := range []struct {
		name string
		role domain.Role
		inv  domain.Invitation
		err  error
		want []string
	}{
		{"revoke pending", domain.Admin, *pending(now.Add(time.Hour)), nil, []string{events.InvitationRevoked.Subject}},
		{"revoke expired", domain.Admin, expired, nil, []string{events.InvitationRevoked.Subject}},
		{"revoke again: nothing", domain.Admin, revoked, nil, nil},
		{"revoke accepted", domain.Admin, accepted, domain.ErrNotPending, nil},
		{"a member revokes", domain.Member, *pending(now.Add(time.Hour)), domain.ErrNotInviter, nil},
	} {
		c, err := domain.Revoke("ann", tc.role, tc.inv)
		if !errors.Is(err, tc.err) || !slices.Equal(subjects(c.Announce), tc.want) {
			t.Errorf("%s: %v, %v; want %v, %v", tc.name, err, subjects(c.Announce), tc.err, tc.want)
		}
	}
}

func TestAccept(t *testing.T) {
	bob := func(f func(*domain.User)) domain.Invitee {
		u := &domain.User{ID: "bob", Status: domain.Active}
		u.Email, u.EmailVerified = "Bob@Example.com", true
		if f != nil {
			f(u)
		}
		return domain.Invitee{User: u, Tenants: map[string]domain.Role{"bobs": domain.Admin}}
	}
	live := *pending(now.Add(time.Hour))
	used, revoked := live, live
	used.Status, used.AcceptedBy = domain.InvitationAccepted, "bob"
	revoked.Status = domain.InvitationRevoked
	member := bob(nil)
	member.Tenants["t"] = domain.Member
	joined := []string{events.InvitationAccepted.Subject, events.TenantMemberAdded.Subject}
	for _, tc := range []struct {
		name      string
		inv       domain.Invitation
		who       domain.Invitee
		suspended bool
		err       error
		want      []string
	}{
		{"bob joins", live, bob(nil), false, nil, joined},
		{"bob again: nothing", used, bob(nil), false, nil, nil},
		{"someone else after bob", used, bob(func(u *domain.User) { u.ID = "eve" }), false, domain.ErrInvitationAccepted, nil},
		{"revoked", revoked, bob(nil), false, domain.ErrInvitationRevoked, nil},
		{"expired", *pending(now), bob(nil), false, domain.ErrInvitationExpired, nil},
		{"unknown to the service yet", live, domain.Invitee{}, false, domain.ErrNotActiveYet, nil},
		{"still pending", live, bob(func(u *domain.User) { u.Status = domain.Pending }), false, domain.ErrNotActiveYet, nil},
		{"another address", live, bob(func(u *domain.User) { u.Email = "eve@example.com" }), false, domain.ErrEmailMismatch, nil},
		{"not verified", live, bob(func(u *domain.User) { u.EmailVerified = false }), false, domain.ErrEmailNotVerified, nil},
		{"suspended tenant", live, bob(nil), true, domain.ErrInvitedTenantClosed, nil},
		{"a member already: accepted, no second membership", live, member, false, nil, []string{events.InvitationAccepted.Subject}},
	} {
		c, err := domain.Accept(tc.inv, tc.who, tc.suspended, now)
		if !errors.Is(err, tc.err) || !slices.Equal(subjects(c.Announce), tc.want) {
			t.Errorf("%s: %v, %v; want %v, %v", tc.name, err, subjects(c.Announce), tc.err, tc.want)
		}
	}
	c, _ := domain.Accept(live, bob(nil), false, now)
	added := c.Announce[1].Data.(*eventsv1.TenantMemberAdded)
	if c.Join == nil || c.Join.Role != domain.Member || added.GetHow() != eventsv1.MembershipSource_MEMBERSHIP_SOURCE_INVITATION ||
		added.GetActorUserId() != "ann" || c.Announce[1].Subject != "t" || c.Save.AcceptedBy != "bob" {
		t.Errorf("join %+v, announced %v", c.Join, added)
	}
}

func TestExpire(t *testing.T) {
	if c := domain.Expire(*pending(now.Add(time.Second)), now); len(c.Announce) != 0 {
		t.Errorf("not due yet: %v", subjects(c.Announce))
	}
	c := domain.Expire(*pending(now), now)
	if got := subjects(c.Announce); !slices.Equal(got, []string{events.InvitationExpired.Subject}) || c.Expire == nil {
		t.Errorf("due: %v", got)
	}
}

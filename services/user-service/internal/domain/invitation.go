package domain

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
)

// Errors of the invitation rules; the API turns each into a status and problem type.
var (
	ErrNotInviter          = errors.New("only the tenant's admins invite people and manage invitations")
	ErrInvalidEmail        = errors.New("not a valid email address")
	ErrAlreadyMember       = errors.New("this address belongs to a member of the tenant already")
	ErrAlreadyInvited      = errors.New("this address has a pending invitation already: resend it")
	ErrNotPending          = errors.New("the invitation is no longer pending (accepted or revoked)")
	ErrNoSuchInvitation    = errors.New("no such invitation")
	ErrInvitationExpired   = errors.New("the invitation has expired: ask the tenant's admin to resend it")
	ErrInvitationRevoked   = errors.New("the invitation was revoked")
	ErrInvitationAccepted  = errors.New("the invitation has been used already")
	ErrEmailMismatch       = errors.New("the invitation is for another email address: sign in with the invited one")
	ErrEmailNotVerified    = errors.New("verify your email address first")
	ErrNotActiveYet        = errors.New("your account is not active yet: try again in a few seconds")
	ErrInvitedTenantClosed = errors.New("the tenant is suspended")
)

// RateLimitError refuses an invitation beyond the tenant's hourly limit.
type RateLimitError struct {
	Limit      int
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("more than %d invitations per hour in this tenant: try again in %s", e.Limit, e.RetryAfter.Round(time.Second))
}

// InvitationStatus is where an invitation is in its life: pending, then accepted, revoked or expired.
type InvitationStatus string

// Statuses of an invitation.
const (
	InvitationPending  InvitationStatus = "pending"
	InvitationAccepted InvitationStatus = "accepted"
	InvitationRevoked  InvitationStatus = "revoked"
	InvitationExpired  InvitationStatus = "expired"
)

// InvitationLimits are the tenant-wide limits of invitations.
type InvitationLimits struct {
	TTL     time.Duration // how long a link works; default 168h
	PerHour int           // mails (invites and resends) per tenant and hour; default 20
}

// WithDefaults fills in the zero values.
func (l InvitationLimits) WithDefaults() InvitationLimits {
	if l.TTL <= 0 {
		l.TTL = 7 * 24 * time.Hour
	}
	if l.PerHour <= 0 {
		l.PerHour = 20
	}
	return l
}

// Invitation is one invitation of an email address into a tenant with a role.
type Invitation struct {
	ID, TenantID, Email  string
	Role                 Role
	Status               InvitationStatus // as stored: a pending one may be past its expiry
	CreatedAt, ExpiresAt time.Time
	InvitedBy            string
	AcceptedBy           string
	TokenHash            []byte
}

// StatusAt is the status as people see it: a pending invitation past its expiry is expired.
func (i Invitation) StatusAt(now time.Time) InvitationStatus {
	if i.Status == InvitationPending && !now.Before(i.ExpiresAt) {
		return InvitationExpired
	}
	return i.Status
}

// NormalizeEmail checks an address to invite and returns it lower-case: a bare addr-spec (no display name)
// with a dotted domain, at most 254 characters.
func NormalizeEmail(s string) (string, error) {
	email := strings.ToLower(strings.TrimSpace(s))
	if len(email) > 254 || strings.ContainsAny(email, " \t\r\n<>\"") {
		return "", ErrInvalidEmail
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Name != "" || a.Address != email {
		return "", ErrInvalidEmail
	}
	local, domain, _ := strings.Cut(email, "@")
	if local == "" || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", ErrInvalidEmail
	}
	return email, nil
}

// NewInvitationToken returns a link token (32 random bytes, base64url) and the SHA-256 that is stored.
func NewInvitationToken() (token string, hash []byte, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("invitation token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashInvitationToken(token), nil
}

// HashInvitationToken is what a token is looked up by.
func HashInvitationToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// RateLimit decides whether one more mail fits the tenant's hourly limit, given when the mails of the last
// hour were asked for.
func RateLimit(recent []time.Time, limit int, now time.Time) error {
	var inHour []time.Time
	for _, t := range recent {
		if now.Sub(t) < time.Hour {
			inHour = append(inHour, t)
		}
	}
	if len(inHour) < limit {
		return nil
	}
	oldest := inHour[0]
	for _, t := range inHour {
		if t.Before(oldest) {
			oldest = t
		}
	}
	return &RateLimitError{Limit: limit, RetryAfter: max(oldest.Add(time.Hour).Sub(now), time.Second)}
}

// InviteScene is what the invite and resend rules look at, read (and locked) by the repository.
type InviteScene struct {
	TenantID  string
	Suspended bool
	Actor     string
	ActorRole Role // "" when the actor is no member
	IsMember  bool // the address belongs to a member of the tenant
	Pending   *Invitation
	Recent    []time.Time // mails asked for in this tenant in the last hour
}

// InvitationChange is what an invitation rule decided, for the repository to save in one transaction.
type InvitationChange struct {
	Expire   *Invitation // store this pending invitation as expired first
	Save     *Invitation // insert (Insert) or update this invitation
	Insert   bool
	Token    string // the new link's token: mail it (and count it against the limit)
	Join     *Membership
	Announce []Announcement
}

func (s InviteScene) check() error {
	if s.ActorRole != Admin {
		return ErrNotInviter
	}
	if s.Suspended {
		return ErrInvitedTenantClosed
	}
	return nil
}

// Invite is an admin inviting email (already normalised) with role; id is the new invitation's.
func Invite(s InviteScene, id, email string, role Role, lim InvitationLimits, now time.Time) (InvitationChange, error) {
	if err := s.check(); err != nil {
		return InvitationChange{}, err
	}
	if role == "" {
		return InvitationChange{}, ErrEmptyRole
	}
	if s.IsMember {
		return InvitationChange{}, ErrAlreadyMember
	}
	var c InvitationChange
	if p := s.Pending; p != nil {
		if p.StatusAt(now) == InvitationPending {
			return InvitationChange{}, ErrAlreadyInvited
		}
		c.expire(*p)
	}
	if err := RateLimit(s.Recent, lim.PerHour, now); err != nil {
		return InvitationChange{}, err
	}
	token, hash, err := NewInvitationToken()
	if err != nil {
		return InvitationChange{}, err
	}
	inv := &Invitation{ID: id, TenantID: s.TenantID, Email: email, Role: role, Status: InvitationPending,
		CreatedAt: now, ExpiresAt: now.Add(lim.TTL), InvitedBy: s.Actor, TokenHash: hash}
	c.Save, c.Insert, c.Token = inv, true, token
	c.Announce = append(c.Announce, invitationCreated(*inv))
	return c, nil
}

// expire records that a pending invitation passed its expiry, announced once (the status changes with it).
func (c *InvitationChange) expire(i Invitation) {
	i.Status = InvitationExpired
	c.Expire = &i
	c.Announce = append(c.Announce, invitationExpired(i, i.ExpiresAt))
}

// Expire is the sweep's rule for a pending invitation past its expiry.
func Expire(i Invitation, now time.Time) InvitationChange {
	var c InvitationChange
	if i.StatusAt(now) == InvitationExpired && i.Status == InvitationPending {
		c.expire(i)
	}
	return c
}

// Resend gives a pending or expired invitation a new link and a new expiry (the old link stops working), and
// mails it again.
func Resend(s InviteScene, i Invitation, lim InvitationLimits, now time.Time) (InvitationChange, error) {
	if err := s.check(); err != nil {
		return InvitationChange{}, err
	}
	if i.Status == InvitationAccepted || i.Status == InvitationRevoked {
		return InvitationChange{}, ErrNotPending
	}
	if s.IsMember {
		return InvitationChange{}, ErrAlreadyMember
	}
	if err := RateLimit(s.Recent, lim.PerHour, now); err != nil {
		return InvitationChange{}, err
	}
	var c InvitationChange
	if i.Status == InvitationPending && i.StatusAt(now) == InvitationExpired {
		c.expire(i) // expired unseen by the sweep: announced before it lives again
	}
	token, hash, err := NewInvitationToken()
	if err != nil {
		return InvitationChange{}, err
	}
	i.Status, i.ExpiresAt, i.TokenHash = InvitationPending, now.Add(lim.TTL), hash
	c.Save, c.Token = &i, token
	return c, nil
}

// Revoke withdraws an invitation; revoking a revoked one changes nothing (a retried DELETE).
func Revoke(actor string, actorRole Role, i Invitation) (InvitationChange, error) {
	if actorRole != Admin {
		return InvitationChange{}, ErrNotInviter
	}
	switch i.Status {
	case InvitationAccepted:
		return InvitationChange{}, ErrNotPending
	case InvitationRevoked:
		return InvitationChange{}, nil
	}
	i.Status = InvitationRevoked
	return InvitationChange{Save: &i, Announce: []Announcement{invitationRevoked(i, actor)}}, nil
}

// Invitee is the person accepting: their user row (nil if the service does not know them yet) and the
// tenants they belong to.
type Invitee struct {
	User    *User
	Tenants map[string]Role
}

// Accept is the invitee following the link. They join only with a verified email (ours, converged to
// Keycloak's) equal to the invited one; accepting twice is fine for the same person.
func Accept(i Invitation, who Invitee, tenantSuspended bool, now time.Time) (InvitationChange, error) {
	u := who.User
	switch i.StatusAt(now) {
	case InvitationAccepted:
		if u != nil && i.AcceptedBy == u.ID {
			return InvitationChange{}, nil
		}
		return InvitationChange{}, ErrInvitationAccepted
	case InvitationRevoked:
		return InvitationChange{}, ErrInvitationRevoked
	case InvitationExpired:
		return InvitationChange{}, ErrInvitationExpired
	}
	if u == nil || u.Status != Active {
		return InvitationChange{}, ErrNotActiveYet
	}
	if !strings.EqualFold(strings.TrimSpace(u.Email), i.Email) {
		return InvitationChange{}, ErrEmailMismatch
	}
	if !u.EmailVerified {
		return InvitationChange{}, ErrEmailNotVerified
	}
	if tenantSuspended {
		return InvitationChange{}, ErrInvitedTenantClosed
	}
	i.Status, i.AcceptedBy = InvitationAccepted, u.ID
	c := InvitationChange{Save: &i, Announce: []Announcement{invitationAccepted(i)}}
	if _, ok := who.Tenants[i.TenantID]; !ok {
		c.Join = &Membership{TenantID: i.TenantID, UserID: u.ID, Role: i.Role, Source: ByInvitation}
		c.Announce = append(c.Announce, memberAdded(*c.Join, i.InvitedBy))
	}
	return c, nil
}

package domain

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/connectedbbq/platform/pkg/events"
	eventsv1 "github.com/connectedbbq/platform/pkg/gen/bbq/events/v1"
)

// State is what an event says Keycloak held at ObservedAt. A nil field was not reported: events from
// providers older than 0.3 carry no state, and the one derived from their fields is partial.
type State struct {
	ObservedAt        time.Time
	Email             *string
	UserName          *string
	Name              *string
	EmailVerified     *bool
	Enabled           *bool
	IdentityProviders *[]string
}

// over is base with what s reports. An email change that does not say whether the new email is verified
// leaves it unverified, as Keycloak does.
func (s State) over(base Identity) Identity {
	out := base
	out.IdentityProviders = slices.Clone(base.IdentityProviders)
	if s.Email != nil {
		out.Email = *s.Email
		if s.EmailVerified == nil && !strings.EqualFold(base.Email, *s.Email) {
			out.EmailVerified = false
		}
	}
	if s.UserName != nil {
		out.UserName = *s.UserName
	}
	if s.Name != nil {
		out.Name = *s.Name
	}
	if s.EmailVerified != nil {
		out.EmailVerified = *s.EmailVerified
	}
	if s.Enabled != nil {
		out.Enabled = *s.Enabled
	}
	if s.IdentityProviders != nil {
		out.IdentityProviders = slices.Clone(*s.IdentityProviders)
	}
	return out
}

// full says whether s reports the whole account (the provider's or the admin API's state), not the few fields
// of an old provider's event.
func (s State) full() bool { return s.Email != nil && s.EmailVerified != nil && s.Enabled != nil }

// FullState is a complete state (every field reported), as Keycloak's admin API or the provider gives it.
func FullState(at time.Time, i Identity) State {
	idps := slices.Clone(i.IdentityProviders)
	return State{ObservedAt: at, Email: &i.Email, UserName: &i.UserName, Name: &i.Name, EmailVerified: &i.EmailVerified,
		Enabled: &i.Enabled, IdentityProviders: &idps}
}

// EventKind is what an IdP event reports.
type EventKind int

// The IdP events the service consumes.
const (
	KindRegistered EventKind = iota + 1
	KindEmailVerified
	KindProfileUpdated
	KindStateChanged
	KindDeleted
)

// Event is an IdP event as the domain sees it.
type Event struct {
	ID     string
	Kind   EventKind
	Realm  string
	Method string // of a registration
	State  State
}

// FromDecoded reads an IdP event from the bus. A state attached by the provider (or read from the admin
// API) is used whole; without one, a partial state is derived from the event's fields, observed at the
// event's time.
func FromDecoded(d events.Decoded) (Event, error) {
	ev := Event{ID: d.Event.ID()}
	at := d.Event.Time()
	switch data := d.Data.(type) {
	case *eventsv1.UserRegistered:
		ev.Kind, ev.Realm, ev.Method = KindRegistered, data.GetRealm(), methodName(data.GetMethod())
		ev.State = stateOr(data.GetState(), at, legacyRegistered(data))
	case *eventsv1.UserEmailVerified:
		ev.Kind, ev.Realm = KindEmailVerified, data.GetRealm()
		ev.State = stateOr(data.GetState(), at, State{Email: nonEmpty(data.GetEmail()), EmailVerified: ptr(true)})
	case *eventsv1.UserProfileUpdated:
		ev.Kind, ev.Realm = KindProfileUpdated, data.GetRealm()
		legacy := State{Email: nonEmpty(data.GetEmail()), Name: nonEmpty(data.GetName())}
		if data.EmailVerified != nil {
			legacy.EmailVerified = ptr(data.GetEmailVerified())
		}
		ev.State = stateOr(data.GetState(), at, legacy)
	case *eventsv1.UserStateChanged:
		if data.GetState() == nil {
			return Event{}, fmt.Errorf("%w: %s %s has no state", ErrInvalidEvent, d.Event.Type(), ev.ID)
		}
		ev.Kind, ev.Realm = KindStateChanged, data.GetRealm()
		ev.State = stateOr(data.GetState(), at, State{})
	case *eventsv1.UserDeleted:
		ev.Kind, ev.Realm = KindDeleted, data.GetRealm()
		ev.State.ObservedAt = at.Truncate(time.Microsecond)
	default:
		return Event{}, fmt.Errorf("%w: the user service does not consume %s", ErrInvalidEvent, d.Event.Type())
	}
	return ev, nil
}

// legacyRegistered is today's reading of a registration: an unverified flag is not news (a brokered
// registration does not report it at all), so only "verified" is taken.
func legacyRegistered(data *eventsv1.UserRegistered) State {
	s := State{Email: nonEmpty(data.GetEmail()), UserName: nonEmpty(data.GetUserName()), Name: nonEmpty(data.GetName())}
	if data.GetEmailVerified() {
		s.EmailVerified = ptr(true)
	}
	return s
}

func stateOr(p *eventsv1.UserState, eventTime time.Time, legacy State) State {
	// Postgres keeps microseconds: a watermark read back must compare equal to the state it came from.
	eventTime = eventTime.Truncate(time.Microsecond)
	if p == nil {
		legacy.ObservedAt = eventTime
		return legacy
	}
	at := eventTime
	if p.GetObservedAt() != nil {
		at = p.GetObservedAt().AsTime().Truncate(time.Microsecond)
	}
	return FullState(at, Identity{Email: p.GetEmail(), UserName: p.GetUserName(), Name: FullName(p.GetFirstName(), p.GetLastName()),
		EmailVerified: p.GetEmailVerified(), Enabled: p.GetEnabled(), IdentityProviders: p.GetIdentityProviders()})
}

// FullName is how a Keycloak first and last name become the stored name (as idp-hook maps them).
func FullName(first, last string) string { return strings.TrimSpace(first + " " + last) }

func methodName(m eventsv1.RegistrationMethod) string {
	if m == eventsv1.RegistrationMethod_REGISTRATION_METHOD_UNSPECIFIED {
		return "unspecified"
	}
	return strings.ToLower(strings.TrimPrefix(m.String(), "REGISTRATION_METHOD_"))
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func ptr[T any](v T) *T { return &v }

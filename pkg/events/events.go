// Package events is the bus contract in code: the subjects, CloudEvent types and sources of
// proto/README.md, and the one way to build and read an event so every service agrees on it.
package events

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/connectedbbq/platform/pkg/gen/bbq/events/v1"
)

// Kind names one event of the contract: where it is published and how it is typed.
type Kind struct {
	Subject string // NATS subject on the bus stream
	Type    string // CloudEvents type, reverse-DNS and versioned
	Schema  string // proto message that is the event's data
	new     func() proto.Message
}

// NewData returns an empty payload message of the kind.
func (k Kind) NewData() proto.Message { return k.new() }

func kind[M proto.Message](subject, typ string, newMsg func() M) Kind {
	return Kind{
		Subject: subject,
		Type:    typ,
		Schema:  string(newMsg().ProtoReflect().Descriptor().FullName()),
		new:     func() proto.Message { return newMsg() },
	}
}

// The events of the contract.
var (
	UserRegistered          = kind("events.idp.user.registered", "com.connectedbbq.idp.user.registered.v1", func() *eventsv1.UserRegistered { return &eventsv1.UserRegistered{} })
	UserEmailVerified       = kind("events.idp.user.email_verified", "com.connectedbbq.idp.user.email_verified.v1", func() *eventsv1.UserEmailVerified { return &eventsv1.UserEmailVerified{} })
	UserProfileUpdated      = kind("events.idp.user.profile_updated", "com.connectedbbq.idp.user.profile_updated.v1", func() *eventsv1.UserProfileUpdated { return &eventsv1.UserProfileUpdated{} })
	UserStateChanged        = kind("events.idp.user.state_changed", "com.connectedbbq.idp.user.state_changed.v1", func() *eventsv1.UserStateChanged { return &eventsv1.UserStateChanged{} })
	IdPUserDeleted          = kind("events.idp.user.deleted", "com.connectedbbq.idp.user.deleted.v1", func() *eventsv1.UserDeleted { return &eventsv1.UserDeleted{} })
	UserCreated             = kind("events.users.user.created", "com.connectedbbq.users.user.created.v1", func() *eventsv1.UserCreated { return &eventsv1.UserCreated{} })
	UserUpdated             = kind("events.users.user.updated", "com.connectedbbq.users.user.updated.v1", func() *eventsv1.UserUpdated { return &eventsv1.UserUpdated{} })
	UserRemoved             = kind("events.users.user.deleted", "com.connectedbbq.users.user.deleted.v1", func() *eventsv1.UserRemoved { return &eventsv1.UserRemoved{} })
	TenantCreated           = kind("events.users.tenant.created", "com.connectedbbq.users.tenant.created.v1", func() *eventsv1.TenantCreated { return &eventsv1.TenantCreated{} })
	TenantMemberAdded       = kind("events.users.tenant.member_added", "com.connectedbbq.users.tenant.member_added.v1", func() *eventsv1.TenantMemberAdded { return &eventsv1.TenantMemberAdded{} })
	TenantMemberRoleChanged = kind("events.users.tenant.member_role_changed", "com.connectedbbq.users.tenant.member_role_changed.v1", func() *eventsv1.TenantMemberRoleChanged { return &eventsv1.TenantMemberRoleChanged{} })
	TenantMemberRemoved     = kind("events.users.tenant.member_removed", "com.connectedbbq.users.tenant.member_removed.v1", func() *eventsv1.TenantMemberRemoved { return &eventsv1.TenantMemberRemoved{} })
	InvitationCreated       = kind("events.users.invitation.created", "com.connectedbbq.users.invitation.created.v1", func() *eventsv1.InvitationCreated { return &eventsv1.InvitationCreated{} })
	InvitationAccepted      = kind("events.users.invitation.accepted", "com.connectedbbq.users.invitation.accepted.v1", func() *eventsv1.InvitationAccepted { return &eventsv1.InvitationAccepted{} })
	InvitationRevoked       = kind("events.users.invitation.revoked", "com.connectedbbq.users.invitation.revoked.v1", func() *eventsv1.InvitationRevoked { return &eventsv1.InvitationRevoked{} })
	InvitationExpired       = kind("events.users.invitation.expired", "com.connectedbbq.users.invitation.expired.v1", func() *eventsv1.InvitationExpired { return &eventsv1.InvitationExpired{} })
	TenantUpdated           = kind("events.users.tenant.updated", "com.connectedbbq.users.tenant.updated.v1", func() *eventsv1.TenantUpdated { return &eventsv1.TenantUpdated{} })
	TenantDeleted           = kind("events.users.tenant.deleted", "com.connectedbbq.users.tenant.deleted.v1", func() *eventsv1.TenantDeleted { return &eventsv1.TenantDeleted{} })
)

// Kinds lists every event of the contract.
func Kinds() []Kind {
	return []Kind{UserRegistered, UserEmailVerified, UserProfileUpdated, UserStateChanged, IdPUserDeleted,
		UserCreated, UserUpdated, UserRemoved, TenantCreated, TenantMemberAdded, TenantMemberRoleChanged, TenantMemberRemoved,
		InvitationCreated, InvitationAccepted, InvitationRevoked, InvitationExpired,
		TenantUpdated, TenantDeleted}
}

// KindOfType finds the kind of a CloudEvents type.
func KindOfType(typ string) (Kind, bool) {
	for _, k := range Kinds() {
		if k.Type == typ {
			return k, true
		}
	}
	return Kind{}, false
}

// Subjects of the bus.
const (
	StreamSubjects = "events.>"
	IdPSubjects    = "events.idp.>"
	UsersSubjects  = "events.users.>"
	// UsersSource is the CloudEvents source of everything the user service publishes.
	UsersSource = "/users"
)

// IdPSource is the CloudEvents source of events from a Keycloak realm. The realm is path-escaped so that any
// name Keycloak allows still makes a valid URI-reference.
func IdPSource(realm string) string { return "/idp/keycloak/realms/" + url.PathEscape(realm) }

// Meta is the CloudEvents envelope of one event.
type Meta struct {
	ID          string    // stable across retries: also the Nats-Msg-Id
	Source      string    // who says it happened
	Subject     string    // the user (or tenant) it is about
	Time        time.Time // when it happened
	TraceParent string    // W3C trace context, optional
}

// TraceParentExtension is the CloudEvents distributed-tracing extension attribute.
const TraceParentExtension = "traceparent"

// New builds a CloudEvent of kind k carrying data as canonical protobuf JSON.
func New(k Kind, m Meta, data proto.Message) (cloudevents.Event, error) {
	if m.ID == "" || m.Source == "" || m.Subject == "" {
		return cloudevents.Event{}, errors.New("event: id, source and subject are required")
	}
	if data.ProtoReflect().Descriptor().FullName() != k.NewData().ProtoReflect().Descriptor().FullName() {
		return cloudevents.Event{}, fmt.Errorf("event %s: data is %s, want %s", k.Type,
			data.ProtoReflect().Descriptor().FullName(), k.Schema)
	}
	raw, err := protojson.Marshal(data)
	if err != nil {
		return cloudevents.Event{}, fmt.Errorf("event %s: encode data: %w", k.Type, err)
	}
	ev := cloudevents.NewEvent()
	ev.SetID(m.ID)
	ev.SetSource(m.Source)
	ev.SetType(k.Type)
	ev.SetSubject(m.Subject)
	ev.SetTime(m.Time.UTC())
	ev.SetDataSchema("proto:" + k.Schema)
	if m.TraceParent != "" {
		ev.SetExtension(TraceParentExtension, m.TraceParent)
	}
	if err := ev.SetData(cloudevents.ApplicationJSON, json.RawMessage(raw)); err != nil {
		return cloudevents.Event{}, fmt.Errorf("event %s: set data: %w", k.Type, err)
	}
	if err := ev.Validate(); err != nil {
		return cloudevents.Event{}, fmt.Errorf("event %s: %w", k.Type, err)
	}
	return ev, nil
}

// Encode is the structured-mode wire form of an event (application/cloudevents+json).
func Encode(ev cloudevents.Event) ([]byte, error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", ev.ID(), err)
	}
	return b, nil
}

// Decoded is an event read from the bus with its payload.
type Decoded struct {
	Event cloudevents.Event
	Kind  Kind
	Data  proto.Message
}

// ErrUnknownType is returned for a well-formed CloudEvent whose type is not in the contract.
var ErrUnknownType = errors.New("unknown event type")

// Decode reads a structured-mode CloudEvent and its payload, checking both against the contract.
func Decode(b []byte) (Decoded, error) {
	var ev cloudevents.Event
	if err := json.Unmarshal(b, &ev); err != nil {
		return Decoded{}, fmt.Errorf("decode cloudevent: %w", err)
	}
	if err := ev.Validate(); err != nil {
		return Decoded{}, fmt.Errorf("invalid cloudevent: %w", err)
	}
	k, ok := KindOfType(ev.Type())
	if !ok {
		return Decoded{}, fmt.Errorf("%w %q", ErrUnknownType, ev.Type())
	}
	data := k.NewData()
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(ev.Data(), data); err != nil {
		return Decoded{}, fmt.Errorf("decode %s data: %w", ev.Type(), err)
	}
	return Decoded{Event: ev, Kind: k, Data: data}, nil
}

// NewTraceParent starts a W3C trace context for an event that arrived without one, so that every
// event on the bus can be followed through the services it causes.
func NewTraceParent() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "00-" + hex.EncodeToString(b[:16]) + "-" + hex.EncodeToString(b[16:]) + "-01"
}

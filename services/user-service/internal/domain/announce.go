package domain

import (
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectedbbq/platform/pkg/events"
	eventsv1 "github.com/connectedbbq/platform/pkg/gen/bbq/events/v1"
)

// Announcement is an event the service announces: its kind (type and bus subject), its CloudEvent subject
// and its payload. Every one is built in this file.
type Announcement struct {
	Kind    events.Kind
	Subject string // the user id; for tenant events, the tenant id
	Data    proto.Message
}

func userCreated(u *User) Announcement {
	return Announcement{Kind: events.UserCreated, Subject: u.ID, Data: &eventsv1.UserCreated{User: u.Proto()}}
}

func userUpdated(u *User, changed []string) Announcement {
	return Announcement{Kind: events.UserUpdated, Subject: u.ID, Data: &eventsv1.UserUpdated{User: u.Proto(), ChangedFields: changed}}
}

func userRemoved(userID, tenantID string) Announcement {
	return Announcement{Kind: events.UserRemoved, Subject: userID, Data: &eventsv1.UserRemoved{UserId: userID, TenantId: tenantID}}
}

func invitationCreated(i Invitation) Announcement {
	return Announcement{Kind: events.InvitationCreated, Subject: i.TenantID, Data: &eventsv1.InvitationCreated{InvitationId: i.ID,
		TenantId: i.TenantID, Email: i.Email, Role: i.Role.Proto(), InvitedByUserId: i.InvitedBy, ExpiresAt: timestamp(i.ExpiresAt)}}
}

func invitationAccepted(i Invitation) Announcement {
	return Announcement{Kind: events.InvitationAccepted, Subject: i.TenantID, Data: &eventsv1.InvitationAccepted{InvitationId: i.ID,
		TenantId: i.TenantID, Email: i.Email, Role: i.Role.Proto(), InvitedByUserId: i.InvitedBy, AcceptedByUserId: i.AcceptedBy}}
}

func invitationRevoked(i Invitation, actor string) Announcement {
	return Announcement{Kind: events.InvitationRevoked, Subject: i.TenantID,
		Data: &eventsv1.InvitationRevoked{InvitationId: i.ID, TenantId: i.TenantID, Email: i.Email, ActorUserId: actor}}
}

func invitationExpired(i Invitation, at time.Time) Announcement {
	return Announcement{Kind: events.InvitationExpired, Subject: i.TenantID,
		Data: &eventsv1.InvitationExpired{InvitationId: i.ID, TenantId: i.TenantID, Email: i.Email, ExpiredAt: timestamp(at)}}
}

func tenantCreated(tenantID, name, byUser string) Announcement {
	return Announcement{Kind: events.TenantCreated, Subject: tenantID,
		Data: &eventsv1.TenantCreated{TenantId: tenantID, Name: name, CreatedByUserId: byUser}}
}

func memberAdded(m Membership, actor string) Announcement {
	return Announcement{Kind: events.TenantMemberAdded, Subject: m.TenantID,
		Data: &eventsv1.TenantMemberAdded{TenantId: m.TenantID, UserId: m.UserID, Role: m.Role.Proto(), ActorUserId: actor, How: m.Source.Proto()}}
}

func memberRoleChanged(tenantID, userID string, role, previous Role, actor string) Announcement {
	return Announcement{Kind: events.TenantMemberRoleChanged, Subject: tenantID,
		Data: &eventsv1.TenantMemberRoleChanged{TenantId: tenantID, UserId: userID, Role: role.Proto(), PreviousRole: previous.Proto(), ActorUserId: actor}}
}

func memberRemoved(tenantID, userID string, role Role, why Reason, actor string) Announcement {
	return Announcement{Kind: events.TenantMemberRemoved, Subject: tenantID,
		Data: &eventsv1.TenantMemberRemoved{TenantId: tenantID, UserId: userID, Role: role.Proto(), Reason: why.Proto(), ActorUserId: actor}}
}

func tenantUpdated(t Tenant, actor string, changed []string) Announcement {
	return Announcement{Kind: events.TenantUpdated, Subject: t.ID,
		Data: &eventsv1.TenantUpdated{TenantId: t.ID, Name: t.Name, Suspended: t.Suspended, IdentityProvider: t.IdentityProvider,
			ActorUserId: actor, ChangedFields: changed}}
}

func tenantDeleted(id, name, actor string) Announcement {
	return Announcement{Kind: events.TenantDeleted, Subject: id, Data: &eventsv1.TenantDeleted{TenantId: id, Name: name, ActorUserId: actor}}
}

// TenantDeclaredUpdated announces an operator's change to a declared tenant (the admin API), t as it is now;
// changed names the fields ("name", "suspended", "identity_provider").
func TenantDeclaredUpdated(t Tenant, changed []string) Announcement {
	return tenantUpdated(t, "", changed)
}

// TenantDeclaredDeleted announces the deletion of a declared tenant (the admin API).
func TenantDeclaredDeleted(id, name string) Announcement { return tenantDeleted(id, name, "") }

// TenantDeclared announces a tenant an operator declared (the admin API).
func TenantDeclared(tenantID, name string) Announcement { return tenantCreated(tenantID, name, "") }

// Proto is the user as UserCreated and UserUpdated carry it.
func (u *User) Proto() *eventsv1.User {
	return &eventsv1.User{UserId: u.ID, Email: u.Email, UserName: u.UserName, Name: u.Name, EmailVerified: u.EmailVerified,
		Status: u.Status.Proto(), TenantId: u.TenantID, Role: u.Role.Proto(), CreatedAt: timestamp(u.CreatedAt), Enabled: u.Enabled}
}

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// Proto is the status on the wire.
func (s Status) Proto() eventsv1.UserStatus {
	switch s {
	case Pending:
		return eventsv1.UserStatus_USER_STATUS_PENDING
	case Active:
		return eventsv1.UserStatus_USER_STATUS_ACTIVE
	case Deleted:
		return eventsv1.UserStatus_USER_STATUS_DELETED
	}
	return eventsv1.UserStatus_USER_STATUS_UNSPECIFIED
}

// Proto is the role on the wire.
func (r Role) Proto() eventsv1.TenantRole {
	switch r {
	case Admin:
		return eventsv1.TenantRole_TENANT_ROLE_ADMIN
	case Member:
		return eventsv1.TenantRole_TENANT_ROLE_MEMBER
	}
	return eventsv1.TenantRole_TENANT_ROLE_UNSPECIFIED
}

// Proto is how a membership began, on the wire.
func (s Source) Proto() eventsv1.MembershipSource {
	switch s {
	case ByPersonal:
		return eventsv1.MembershipSource_MEMBERSHIP_SOURCE_PERSONAL
	case ByDomain:
		return eventsv1.MembershipSource_MEMBERSHIP_SOURCE_DOMAIN
	case ByDeclared:
		return eventsv1.MembershipSource_MEMBERSHIP_SOURCE_DECLARED
	case ByInvitation:
		return eventsv1.MembershipSource_MEMBERSHIP_SOURCE_INVITATION
	case ByAdmin:
		return eventsv1.MembershipSource_MEMBERSHIP_SOURCE_ADMIN
	}
	return eventsv1.MembershipSource_MEMBERSHIP_SOURCE_UNSPECIFIED
}

// Proto is why a membership ended, on the wire.
func (r Reason) Proto() eventsv1.MemberRemovalReason {
	switch r {
	case Removed:
		return eventsv1.MemberRemovalReason_MEMBER_REMOVAL_REASON_REMOVED
	case Left:
		return eventsv1.MemberRemovalReason_MEMBER_REMOVAL_REASON_LEFT
	case TenantDeletion:
		return eventsv1.MemberRemovalReason_MEMBER_REMOVAL_REASON_TENANT_DELETED
	}
	return eventsv1.MemberRemovalReason_MEMBER_REMOVAL_REASON_UNSPECIFIED
}

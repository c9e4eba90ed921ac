package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/connectedbbq/platform/services/user-service/internal/domain"
	"github.com/connectedbbq/platform/services/user-service/internal/store"
)

// InvitationStore is what the invitation endpoints read and write.
type InvitationStore interface {
	Invite(ctx context.Context, c store.Caller, email, role string) (store.InvitationView, error)
	Invitations(ctx context.Context, c store.Caller, status string) ([]store.InvitationView, error)
	ResendInvitation(ctx context.Context, c store.Caller, id string) (store.InvitationView, error)
	RevokeInvitation(ctx context.Context, c store.Caller, id string) error
	PreviewInvitation(ctx context.Context, token string) (store.InvitationPreview, error)
	AcceptInvitation(ctx context.Context, c store.Caller, token string) (store.MyTenant, error)
}

// mountInvitations adds the invitation routes: the admins' under /v1/tenant (active tenant, membership
// checked), the invitee's by token (no tenant needed: a new person has none of theirs yet).
func (a *API) mountInvitations(mux *http.ServeMux) {
	s, ok := a.store.(InvitationStore)
	if !ok {
		return
	}
	h := invitations{s}
	mux.Handle("POST /v1/tenant/invitations", a.authed(a.tenantOnly(rateLimited(h.create))))
	mux.Handle("GET /v1/tenant/invitations", a.authed(a.tenantOnly(h.list)))
	mux.Handle("POST /v1/tenant/invitations/{id}/resend", a.authed(a.tenantOnly(rateLimited(h.resend))))
	mux.Handle("DELETE /v1/tenant/invitations/{id}", a.authed(a.tenantOnly(h.revoke)))
	mux.Handle("GET /v1/invitations/{token}", a.authed(h.preview))
	mux.Handle("POST /v1/invitations/{token}/accept", a.authed(h.accept))
}

type invitations struct{ store InvitationStore }

// invitationRefusals are the invitation rules' errors as problems.
var invitationRefusals = []struct {
	err error
	p   problem
}{
	{domain.ErrNotInviter, problem{Status: http.StatusForbidden, Type: "urn:bbq:problem:not-an-admin", Title: "Not an admin", Detail: domain.ErrNotInviter.Error()}},
	{domain.ErrInvalidEmail, problem{Status: http.StatusUnprocessableEntity, Type: "urn:bbq:problem:invalid-email", Title: "Invalid email", Detail: domain.ErrInvalidEmail.Error()}},
	{domain.ErrAlreadyMember, problem{Status: http.StatusConflict, Type: "urn:bbq:problem:already-member", Title: "Already a member", Detail: domain.ErrAlreadyMember.Error()}},
	{domain.ErrAlreadyInvited, problem{Status: http.StatusConflict, Type: "urn:bbq:problem:already-invited", Title: "Already invited", Detail: domain.ErrAlreadyInvited.Error()}},
	{domain.ErrNotPending, problem{Status: http.StatusConflict, Type: "urn:bbq:problem:invitation-not-pending", Title: "Invitation not pending", Detail: domain.ErrNotPending.Error()}},
	{domain.ErrNoSuchInvitation, problem{Status: http.StatusNotFound, Type: "urn:bbq:problem:no-such-invitation", Title: "No such invitation", Detail: "no such invitation (a resent invitation's old link stops working)"}},
	{domain.ErrInvitationExpired, problem{Status: http.StatusGone, Type: "urn:bbq:problem:invitation-expired", Title: "Invitation expired", Detail: domain.ErrInvitationExpired.Error()}},
	{domain.ErrInvitationRevoked, problem{Status: http.StatusGone, Type: "urn:bbq:problem:invitation-revoked", Title: "Invitation revoked", Detail: domain.ErrInvitationRevoked.Error()}},
	{domain.ErrInvitationAccepted, problem{Status: http.StatusConflict, Type: "urn:bbq:problem:invitation-accepted", Title: "Invitation used", Detail: domain.ErrInvitationAccepted.Error()}},
	{domain.ErrEmailMismatch, problem{Status: http.StatusForbidden, Type: "urn:bbq:problem:email-mismatch", Title: "Other email address", Detail: domain.ErrEmailMismatch.Error()}},
	{domain.ErrEmailNotVerified, problem{Status: http.StatusForbidden, Type: "urn:bbq:problem:email-not-verified", Title: "Email not verified", Detail: domain.ErrEmailNotVerified.Error()}},
	{domain.ErrNotActiveYet, problem{Status: http.StatusConflict, Type: "urn:bbq:problem:not-active-yet", Title: "Account not active yet", Detail: domain.ErrNotActiveYet.Error()}},
	{domain.ErrInvitedTenantClosed, problem{Status: http.StatusForbidden, Type: "urn:bbq:problem:tenant-suspended", Title: "Tenant suspended", Detail: domain.ErrInvitedTenantClosed.Error()}},
}

// rateLimited answers the hourly limit with 429 and Retry-After (whole seconds, rounded up).
func rateLimited(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, c store.Caller) error {
		err := h(w, r, c)
		var rl *domain.RateLimitError
		if !errors.As(err, &rl) {
			return err
		}
		secs := int64((rl.RetryAfter + 999_999_999) / 1_000_000_000)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		return problem{Status: http.StatusTooManyRequests, Type: "urn:bbq:problem:invitation-rate-limit", Title: "Too many invitations", Detail: rl.Error()}
	}
}

func (h invitations) create(w http.ResponseWriter, r *http.Request, c store.Caller) error {
	var body struct {
		Email *string `json:"email"`
		Role  *string `json:"role"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.Email == nil {
		return refusal(domain.ErrInvalidEmail)
	}
	email, err := domain.NormalizeEmail(*body.Email)
	if err != nil {
		return err
	}
	if body.Role == nil || *body.Role == "" {
		return refusal(domain.ErrEmptyRole)
	}
	inv, err := h.store.Invite(r.Context(), c, email, *body.Role)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, inv)
	return nil
}

func (h invitations) list(w http.ResponseWriter, r *http.Request, c store.Caller) error {
	status := r.URL.Query().Get("status")
	switch domain.InvitationStatus(status) {
	case "", domain.InvitationPending, domain.InvitationAccepted, domain.InvitationRevoked, domain.InvitationExpired:
	default:
		return problem{Status: http.StatusBadRequest, Title: "Invalid status", Detail: "status is one of pending, accepted, revoked, expired"}
	}
	list, err := h.store.Invitations(r.Context(), c, status)
	if err != nil {
		return err
	}
	if list == nil {
		list = []store.InvitationView{}
	}
	writeJSON(w, http.StatusOK, struct {
		Invitations []store.InvitationView `json:"invitations"`
	}{list})
	return nil
}

// invitationID is the id a path names: anything but a UUID names no invitation.
func invitationID(r *http.Request) (string, error) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return "", domain.ErrNoSuchInvitation
	}
	return id.String(), nil
}

func (h invitations) resend(w http.ResponseWriter, r *http.Request, c store.Caller) error {
	id, err := invitationID(r)
	if err != nil {
		return err
	}
	inv, err := h.store.ResendInvitation(r.Context(), c, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, inv)
	return nil
}

func (h invitations) revoke(w http.ResponseWriter, r *http.Request, c store.Caller) error {
	id, err := invitationID(r)
	if err != nil {
		return err
	}
	if err := h.store.RevokeInvitation(r.Context(), c, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// token is the link's token from the path: one that is not what we issue names no invitation.
func token(r *http.Request) (string, error) {
	t := r.PathValue("token")
	if len(t) != 43 || !utf8.ValidString(t) {
		return "", domain.ErrNoSuchInvitation
	}
	return t, nil
}

func (h invitations) preview(w http.ResponseWriter, r *http.Request, _ store.Caller) error {
	t, err := token(r)
	if err != nil {
		return err
	}
	p, err := h.store.PreviewInvitation(r.Context(), t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (h invitations) accept(w http.ResponseWriter, r *http.Request, c store.Caller) error {
	t, err := token(r)
	if err != nil {
		return err
	}
	m, err := h.store.AcceptInvitation(r.Context(), c, t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

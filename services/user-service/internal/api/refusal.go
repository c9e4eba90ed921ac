package api

import (
	"errors"
	"net/http"
	"slices"

	"github.com/connectedbbq/platform/services/user-service/internal/domain"
	"github.com/connectedbbq/platform/services/user-service/internal/store"
)

// refusals are the membership rules' errors as problems: each refused action says why.
var refusals = []struct {
	err error
	p   problem
}{
	{store.ErrNotInTenant, problem{Status: http.StatusForbidden, Type: "urn:bbq:problem:not-a-member", Title: "Not a member",
		Detail: "you do not belong to this tenant (any more): choose one of your tenants (GET /v1/me/tenants) or sign in again"}},
	{domain.ErrNotAdmin, problem{Status: http.StatusForbidden, Type: "urn:bbq:problem:not-an-admin", Title: "Forbidden", Detail: domain.ErrNotAdmin.Error()}},
	{domain.ErrLastAdmin, problem{Status: http.StatusConflict, Type: "urn:bbq:problem:last-admin", Title: "Last admin", Detail: domain.ErrLastAdmin.Error()}},
	{domain.ErrNotMember, problem{Status: http.StatusNotFound, Title: "Not a member", Detail: "no such member in this tenant"}},
	{domain.ErrRemoveSelf, problem{Status: http.StatusConflict, Title: "Cannot remove yourself", Detail: domain.ErrRemoveSelf.Error()}},
	{domain.ErrEmptyRole, problem{Status: http.StatusUnprocessableEntity, Title: "Invalid role", Detail: `"role" is required`}},
	{store.ErrUnknownRole, problem{Status: http.StatusUnprocessableEntity, Title: "Invalid role", Detail: "no such role; the roles are admin and member"}},
}

func refusal(err error) problem {
	for _, r := range slices.Concat(refusals, invitationRefusals, tenantRefusals) {
		if errors.Is(err, r.err) {
			return r.p
		}
	}
	return problem{}
}

package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	eventsv1 "github.com/connectedbbq/platform/pkg/gen/bbq/events/v1"
	"github.com/connectedbbq/platform/pkg/keycloak"
	"github.com/connectedbbq/platform/services/idp-hook/internal/kcevent"
)

// states reads users' states from the admin API for one pass: stored events carry no bbqUser, so a replayed
// event carries the state Keycloak holds now (observed when the admin API answered). One read per user and
// pass: every event of the user in the pass gets the same, newest, state.
type states struct {
	kc   Keycloak
	now  func() time.Time
	got  map[string]*eventsv1.UserState // nil value: the user is gone
	gone map[string]bool                // reported as deleted in this pass
}

func newStates(kc Keycloak, now func() time.Time) *states {
	return &states{kc: kc, now: now, got: map[string]*eventsv1.UserState{}, gone: map[string]bool{}}
}

// get returns the user's state, or gone when the admin API answers 404.
func (s *states) get(ctx context.Context, userID string) (*eventsv1.UserState, bool, error) {
	if st, ok := s.got[userID]; ok {
		return st, st == nil, nil
	}
	u, err := s.kc.GetUser(ctx, userID)
	if errors.Is(err, keycloak.ErrNotFound) {
		s.got[userID] = nil
		return nil, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read the state of user %s: %w", userID, err)
	}
	user := userOf(u)
	st := user.State(s.now())
	s.got[userID] = st
	return st, false, nil
}

// reportGone says whether the user's deletion is still to be reported in this pass.
func (s *states) reportGone(userID string) bool {
	if s.gone[userID] {
		return false
	}
	s.gone[userID] = true
	return true
}

// userOf is the admin API's user as the provider's bbqUser.
func userOf(u keycloak.User) kcevent.User {
	aliases := make([]string, 0, len(u.FederatedIdentities))
	for _, f := range u.FederatedIdentities {
		aliases = append(aliases, f.IdentityProvider)
	}
	return kcevent.User{ID: u.ID, Username: u.Username, Email: u.Email, EmailVerified: u.EmailVerified,
		FirstName: u.FirstName, LastName: u.LastName, Enabled: u.Enabled, CreatedTimestamp: u.CreatedTimestamp,
		FederatedIdentities: aliases}
}

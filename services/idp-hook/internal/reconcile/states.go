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

// states reads users' states from the admin API for one pass: stored events carry no bbqUser, so the pass
// publishes the state Keycloak holds now beside them. One read per user and pass.
//
// A read is dated readMargin before the admin API answered: Keycloak dates an event when it is created, before
// its transaction commits, so a read in between sees the older state while being later than the event. Dated
// earlier, the read never outranks an event whose commit it might not have seen; every later commit has its
// own event, which carries its own state.
type states struct {
	kc   Keycloak
	now  func() time.Time
	got  map[string]*eventsv1.UserState // nil value: the user is gone
	gone map[string]bool                // reported as deleted in this pass
}

func newStates(kc Keycloak, now func() time.Time) *states {
	return &states{kc: kc, now: now, got: map[string]*eventsv1.UserState{}, gone: map[string]bool{}}
}

const readMargin = 2 * time.Second

// get returns the user's state, or gone when the admin API answers 404; first is true the first time the user
// is asked for in this pass.
func (s *states) get(ctx context.Context, userID string) (st *eventsv1.UserState, gone, first bool, err error) {
	if st, ok := s.got[userID]; ok {
		return st, st == nil, false, nil
	}
	u, err := s.kc.GetUser(ctx, userID)
	if errors.Is(err, keycloak.ErrNotFound) {
		s.got[userID] = nil
		return nil, true, true, nil
	}
	if err != nil {
		return nil, false, false, fmt.Errorf("read the state of user %s: %w", userID, err)
	}
	user := userOf(u)
	st = user.State(s.now().Add(-readMargin))
	s.got[userID] = st
	return st, false, true, nil
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

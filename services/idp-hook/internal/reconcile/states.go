package reconcile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	eventsv1 "github.com/connectedbbq/platform/pkg/gen/bbq/events/v1"
	"github.com/connectedbbq/platform/pkg/keycloak"
	"github.com/connectedbbq/platform/services/idp-hook/internal/kcevent"
)

// states reads users' states from the admin API for one pass: stored events carry no bbqUser, so the pass
// publishes the state Keycloak holds now beside them. One read per user and pass; one state event per user
// and page, named after the user's newest event of the page (kcevent.Observed).
//
// A read is dated readMargin before the admin API answered: Keycloak dates an event when it is created, before
// its transaction commits, so a read in between sees the older state while being later than the event. Dated
// earlier, the read never outranks an event whose commit it might not have seen; every later commit has its
// own event, which carries its own state.
type states struct {
	mu     sync.Mutex // get and reportGone run for several users at once (pageReplay)
	kc     Keycloak
	now    func() time.Time
	got    map[string]*eventsv1.UserState // nil value: the user is gone
	newest map[string]string              // user -> id of its newest event in the page being replayed
	asked  map[string]bool                // asked for by get in this page (prefetch reads ahead of it)
	gone   map[string]bool                // reported as deleted in this pass
	single bool                           // the bulk read is missing (an older provider): one read per user
}

// StateReader reads many users in one request (keycloak.Client is one, through the bbq provider's
// POST bbq/users/states); an absent user is gone.
type StateReader interface {
	UserStates(ctx context.Context, ids []string) ([]keycloak.User, error)
}

// stateChunk is how many users one bulk read asks for, as many as the provider reads in one: after an outage
// a page's users cost Keycloak a few requests instead of one each. Each request's token check and permission
// evaluation still were a quarter of Keycloak's CPU with 100 users a request (JFR), so the largest chunk.
const stateChunk = keycloak.MaxUserStates

func newStates(kc Keycloak, now func() time.Time) *states {
	return &states{kc: kc, now: now, got: map[string]*eventsv1.UserState{}, newest: map[string]string{},
		asked: map[string]bool{}, gone: map[string]bool{}}
}

// stamped is one stored event's user, id and time, as page needs them.
type stamped struct {
	user, id string
	time     int64
}

// page starts the replay of a page of events: it notes each user's newest event of the page (by time, then
// id, so a page read again names the same one) and reads the states of the users not read yet in this pass.
func (s *states) page(ctx context.Context, evs []stamped) {
	s.mu.Lock()
	s.asked, s.newest = map[string]bool{}, map[string]string{}
	s.mu.Unlock()
	newest := map[string]stamped{}
	for _, e := range evs {
		if n, ok := newest[e.user]; !ok || e.time > n.time || e.time == n.time && e.id > n.id {
			newest[e.user] = e
		}
	}
	ids := make([]string, 0, len(newest))
	s.mu.Lock()
	for user, e := range newest {
		s.newest[user] = e.id
		ids = append(ids, user)
	}
	s.mu.Unlock()
	s.prefetch(ctx, ids)
}

// after is the id of the user's newest event in the page, which names the state published beside it.
func (s *states) after(userID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newest[userID]
}

// prefetchReaders is how many users prefetch reads at once: one read per user is the reconciler's cost
// after an outage (tens of ms each from Keycloak), and Keycloak serves reads in parallel.
const prefetchReaders = 8

// prefetch reads the states of the users not read yet in this pass, prefetchReaders at a time, so that get
// finds them. A user whose read fails is left to get, which reports the error in order.
func (s *states) prefetch(ctx context.Context, userIDs []string) {
	todo := map[string]bool{}
	s.mu.Lock()
	for _, id := range userIDs {
		if _, ok := s.got[id]; !ok && id != "" {
			todo[id] = true
		}
	}
	single := s.single
	s.mu.Unlock()
	if sr, ok := s.kc.(StateReader); ok && !single && s.prefetchBulk(ctx, sr, slices.Collect(maps.Keys(todo))) {
		return
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, prefetchReaders)
	for id := range todo {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if st, err := s.read(ctx, id); err == nil {
				s.mu.Lock()
				s.got[id] = st
				s.mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// prefetchBulk reads the users stateChunk at a time, prefetchReaders chunks at once; false when the
// Keycloak has no bulk read (then, and for the rest of the pass, users are read one by one). A chunk whose
// read fails is left to get, as prefetch leaves a user.
func (s *states) prefetchBulk(ctx context.Context, sr StateReader, ids []string) bool {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(prefetchReaders)
	for chunk := range slices.Chunk(ids, stateChunk) {
		g.Go(func() error {
			users, err := sr.UserStates(gctx, chunk)
			if errors.Is(err, keycloak.ErrNoStatesEndpoint) {
				return err
			}
			if err != nil {
				return nil
			}
			at := s.now().Add(-readMargin)
			found := make(map[string]*eventsv1.UserState, len(users))
			for _, u := range users {
				user := userOf(u)
				found[u.ID] = user.State(at)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			for _, id := range chunk {
				s.got[id] = found[id] // nil: gone
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		s.mu.Lock()
		s.single = true
		s.mu.Unlock()
		return false
	}
	return true
}

const readMargin = 2 * time.Second

// get returns the user's state, or gone when the admin API answers 404; first is true the first time the user
// is asked for in this page.
func (s *states) get(ctx context.Context, userID string) (st *eventsv1.UserState, gone, first bool, err error) {
	s.mu.Lock()
	first = !s.asked[userID]
	st, ok := s.got[userID]
	if ok {
		s.asked[userID] = true
	}
	s.mu.Unlock()
	if ok {
		return st, st == nil, first, nil
	}
	if st, err = s.read(ctx, userID); err != nil {
		return nil, false, false, err
	}
	s.mu.Lock()
	s.got[userID], s.asked[userID] = st, true
	s.mu.Unlock()
	return st, st == nil, true, nil
}

// read asks the admin API for the user's state (nil: gone).
func (s *states) read(ctx context.Context, userID string) (*eventsv1.UserState, error) {
	u, err := s.kc.GetUser(ctx, userID)
	if errors.Is(err, keycloak.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the state of user %s: %w", userID, err)
	}
	user := userOf(u)
	return user.State(s.now().Add(-readMargin)), nil
}

// reportGone says whether the user's deletion is still to be reported in this pass.
func (s *states) reportGone(userID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
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

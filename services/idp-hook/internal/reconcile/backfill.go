package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/connectedbbq/platform/pkg/bus"
	"github.com/connectedbbq/platform/pkg/events"
	"github.com/connectedbbq/platform/pkg/keycloak"
	"github.com/connectedbbq/platform/services/idp-hook/internal/kcevent"
)

// AsyncPublisher publishes without waiting for each PubAck (jetstream.JetStream is one).
type AsyncPublisher interface {
	PublishMsgAsync(msg *nats.Msg, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error)
}

// BackfillOptions tune a backfill; zero values take the defaults.
type BackfillOptions struct {
	Page    int // users per list request (default: PageFor the realm's count)
	Readers int // concurrent per-user reads (default 8)
	// IdPs are the identity-provider aliases whose links the registrations carry, read with one query per alias
	// and page instead of one read per user. Nil: the realm's own (needs view-identity-providers); when they
	// cannot be listed, every user is read whole.
	IdPs     []string
	KV       jetstream.KeyValue // where the offset of the last page done is kept; nil: no resume
	Progress io.Writer          // a progress line every Every (default 2 s); nil: none
	Every    time.Duration
}

// BackfillStats count a backfill: users read from Keycloak, registrations published and of those, new to the
// bus (the others were dropped as duplicates of an earlier run).
type BackfillStats struct {
	Read, Published, New int
}

// Pages of a backfill: Keycloak's cost of one list request grows with the realm, not with the page (on its
// dev-file database, one user listed of a million took as long as 5,000: 6.5 s), so a large realm is read in
// at most about maxPages requests. Memory grows with the page, not the realm: 51 MiB at 5,000, 146 MiB at
// 25,000.
const (
	minPage  = 5000
	maxPage  = 25000
	maxPages = 40
)

// PageFor is the page a backfill of a realm of n users reads by default.
func PageFor(n int) int {
	return min(max(n/maxPages, minPage), maxPage)
}

func (o BackfillOptions) withDefaults(users int) BackfillOptions {
	if o.Page <= 0 {
		o.Page = PageFor(users)
	}
	if o.Readers <= 0 {
		o.Readers = 8
	}
	if o.Every <= 0 {
		o.Every = 2 * time.Second
	}
	return o
}

// backfillCheckpoint is the offset of the first user not yet published; it is deleted when a walk completes.
type backfillCheckpoint struct {
	Next int `json:"next"`
}

// userPage is one page of users read whole; a nil entry is a user deleted meanwhile.
type userPage struct {
	first int
	users []*keycloak.User
}

// Backfill publishes a registration (id backfill-<user>) for every user of the realm, with the state the
// admin API gives. Reading runs one page ahead of publishing; each page is published asynchronously (at most
// inFlight at a time) and its PubAcks awaited before its offset is checkpointed, so a run killed at any point
// resumes one page before where it got to, and the bus drops the overlap as duplicates within its duplicate
// window.
func Backfill(ctx context.Context, kc Keycloak, js AsyncPublisher, log *slog.Logger, o BackfillOptions) (BackfillStats, error) {
	n := total(ctx, kc, log)
	o = o.withDefaults(n)
	key := "backfill." + kc.Realm()
	start, err := loadBackfillCheckpoint(ctx, o.KV, key)
	if err != nil {
		return BackfillStats{}, err
	}
	start = max(0, start-o.Page) // deletions since may have shifted users below the saved offset
	if start > 0 {
		log.Info("backfill resumes", "from_user", start)
	}
	links, err := readLinks(ctx, kc, o, log)
	if err != nil {
		return BackfillStats{}, err
	}
	pages := make(chan userPage, 1)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(pages)
		return readPages(gctx, kc, o, links, start, pages)
	})
	log.Info("backfill reads", "users", n, "page", o.Page)
	prog := newProgress(o.Progress, o.Every, n, start)
	var st BackfillStats
	g.Go(func() error {
		for p := range pages {
			if err := publishPage(gctx, kc.Realm(), js, log, p, &st); err != nil {
				return err
			}
			prog.update(st)
			if err := saveBackfillCheckpoint(gctx, o.KV, key, p.first+len(p.users)); err != nil {
				return err
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return st, err
	}
	prog.done(st)
	if o.KV != nil {
		if err := o.KV.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return st, fmt.Errorf("clear backfill checkpoint: %w", err)
		}
	}
	return st, nil
}

func total(ctx context.Context, kc Keycloak, log *slog.Logger) int {
	c, ok := kc.(interface {
		CountUsers(context.Context) (int, error)
	})
	if !ok {
		return 0
	}
	n, err := c.CountUsers(ctx)
	if err != nil {
		log.Warn("backfill: no user count, so no ETA", "error", err)
	}
	return n
}

// LinkLister finds the users linked to identity providers with a query (keycloak.Client is one).
type LinkLister interface {
	IdentityProviderAliases(ctx context.Context) ([]string, error)
	ListUsersLinkedTo(ctx context.Context, alias string, first, max int) ([]keycloak.User, error)
}

// readLinks returns each linked user's identity-provider aliases, or nil when users must be read one by one.
// Its size grows with the linked users only (an id and an alias each). A link made after it was read reaches
// the bus as its own admin event.
func readLinks(ctx context.Context, kc Keycloak, o BackfillOptions, log *slog.Logger) (map[string][]string, error) {
	ll, ok := kc.(LinkLister)
	if !ok {
		return nil, nil
	}
	aliases := o.IdPs
	if aliases == nil {
		var err error
		if aliases, err = ll.IdentityProviderAliases(ctx); err != nil {
			log.Warn("backfill cannot list the identity providers, so it reads every user whole (slow); "+
				"grant view-identity-providers or pass -idps", "error", err)
			return nil, nil
		}
	}
	links := map[string][]string{}
	for _, alias := range aliases {
		for first := 0; ; first += o.Page {
			users, err := ll.ListUsersLinkedTo(ctx, alias, first, o.Page)
			if err != nil {
				return nil, fmt.Errorf("list users linked to %s: %w", alias, err)
			}
			for _, u := range users {
				links[u.ID] = append(links[u.ID], alias)
			}
			if len(users) < o.Page {
				break
			}
		}
	}
	return links, nil
}

// readPages lists users page by page from first on. With links, the list is all it needs; without, it reads
// each user whole (the list has no identity-provider links), o.Readers at a time.
func readPages(ctx context.Context, kc Keycloak, o BackfillOptions, links map[string][]string, first int, out chan<- userPage) error {
	for ; ; first += o.Page {
		listed, err := kc.ListUsersBrief(ctx, first, o.Page)
		if err != nil {
			return fmt.Errorf("list users from %d: %w", first, err)
		}
		p := userPage{first: first, users: make([]*keycloak.User, len(listed))}
		if links != nil {
			for i := range listed {
				for _, alias := range links[listed[i].ID] {
					listed[i].FederatedIdentities = append(listed[i].FederatedIdentities, keycloak.FederatedIdentity{IdentityProvider: alias})
				}
				p.users[i] = &listed[i]
			}
		} else if err := readWhole(ctx, kc, o.Readers, listed, p.users); err != nil {
			return err
		}
		select {
		case out <- p:
		case <-ctx.Done():
			return ctx.Err()
		}
		if len(listed) < o.Page {
			return nil
		}
	}
}

// readWhole reads each listed user with GetUser, readers at a time, into whole (nil: deleted meanwhile).
func readWhole(ctx context.Context, kc Keycloak, readers int, listed []keycloak.User, whole []*keycloak.User) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(readers)
	for i, u := range listed {
		g.Go(func() error {
			u, err := kc.GetUser(gctx, u.ID)
			if errors.Is(err, keycloak.ErrNotFound) {
				return nil // deleted meanwhile: its deletion is an admin or user event
			}
			if err != nil {
				return fmt.Errorf("read user %s: %w", u.ID, err)
			}
			whole[i] = &u
			return nil
		})
	}
	return g.Wait()
}

// publishPage publishes the page's registrations without waiting, then waits for all their PubAcks.
// inFlight bounds the PubAcks a backfill awaits at once, below nats.go's 4,000 outstanding async
// publishes: past those a publish stalls, and after 200 ms fails ("stalled with too many outstanding async
// published messages"), which ended a run of 25,000-user pages under load.
const inFlight = 2000

func publishPage(ctx context.Context, realm string, js AsyncPublisher, log *slog.Logger, p userPage, st *BackfillStats) error {
	futures := make([]jetstream.PubAckFuture, 0, min(len(p.users), inFlight))
	await := func() error {
		f := futures[0]
		futures = futures[1:]
		select {
		case ack := <-f.Ok():
			st.Published++
			if !ack.Duplicate {
				st.New++
			}
			return nil
		case err := <-f.Err():
			return fmt.Errorf("publish %s: %w", f.Msg().Header.Get(jetstream.MsgIDHeader), err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	now := time.Now()
	for _, u := range p.users {
		if u == nil {
			continue
		}
		st.Read++
		msg, id, err := registration(realm, *u, now)
		if err != nil {
			log.Warn("user cannot be backfilled; skipped", "user_id", u.ID, "error", err)
			continue
		}
		if len(futures) == inFlight {
			if err := await(); err != nil {
				return err
			}
		}
		f, err := js.PublishMsgAsync(msg, jetstream.WithMsgID(id))
		if err != nil {
			return fmt.Errorf("publish the registration of %s: %w", u.ID, err)
		}
		futures = append(futures, f)
	}
	for len(futures) > 0 {
		if err := await(); err != nil {
			return err
		}
	}
	return nil
}

func registration(realm string, u keycloak.User, observed time.Time) (*nats.Msg, string, error) {
	m := kcevent.Backfill(realm, userOf(u), observed)
	ev, err := events.New(m.Kind, m.Meta, m.Data)
	if err != nil {
		return nil, "", err
	}
	msg, err := bus.Message(m.Kind.Subject, ev)
	return msg, ev.ID(), err
}

func loadBackfillCheckpoint(ctx context.Context, kv jetstream.KeyValue, key string) (int, error) {
	if kv == nil {
		return 0, nil
	}
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read backfill checkpoint: %w", err)
	}
	var cp backfillCheckpoint
	if err := json.Unmarshal(e.Value(), &cp); err != nil {
		return 0, fmt.Errorf("read backfill checkpoint %q: %w", e.Value(), err)
	}
	return cp.Next, nil
}

func saveBackfillCheckpoint(ctx context.Context, kv jetstream.KeyValue, key string, next int) error {
	if kv == nil {
		return nil
	}
	b, err := json.Marshal(backfillCheckpoint{Next: next})
	if err != nil {
		return fmt.Errorf("encode backfill checkpoint: %w", err)
	}
	if _, err := kv.Put(ctx, key, b); err != nil {
		return fmt.Errorf("save backfill checkpoint: %w", err)
	}
	return nil
}

// progress prints read, published, rate and ETA at most every `every`.
type progress struct {
	w           io.Writer
	every       time.Duration
	total       int
	offset      int // users before the resume point, counted as done for the ETA
	start, last time.Time
}

func newProgress(w io.Writer, every time.Duration, total, offset int) *progress {
	now := time.Now()
	return &progress{w: w, every: every, total: total, offset: offset, start: now, last: now}
}

func (p *progress) update(st BackfillStats) {
	if p.w == nil || time.Since(p.last) < p.every {
		return
	}
	p.last = time.Now()
	p.print(st, "")
}

func (p *progress) done(st BackfillStats) {
	if p.w != nil {
		p.print(st, " (done)")
	}
}

func (p *progress) print(st BackfillStats, suffix string) {
	took := time.Since(p.start)
	rate := float64(st.Read) / max(took.Seconds(), 1e-3)
	eta := "?"
	if left := p.total - p.offset - st.Read; p.total > 0 && rate > 0 {
		eta = time.Duration(float64(max(left, 0)) / rate * float64(time.Second)).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "backfill: read %d/%d published %d (new %d) %.0f users/s ETA %s%s\n",
		p.offset+st.Read, p.total, st.Published, st.New, rate, eta, suffix)
}

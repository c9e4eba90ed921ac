package reconcile

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"
)

// Checkpoint is where a reconciliation stream stands: the newest stored event time it reconciled and the ids
// it reconciled from Time-overlap on. Keycloak orders stored events by time only, so events sharing a
// millisecond come back in any order; the ids make re-reading that millisecond (and the overlap) skip exactly
// what was done.
type Checkpoint struct {
	Time int64            `json:"time"`           // unix milliseconds
	Seen map[string]int64 `json:"seen,omitempty"` // event id -> its time
}

// maxSeen bounds the ids a checkpoint keeps (its KV value stays far below NATS' 1 MB): beyond it the oldest
// are dropped and, if re-read in the overlap, re-published; the bus drops them as duplicates.
const maxSeen = 5000

// parseCheckpoint reads a stored checkpoint; the plain milliseconds of earlier versions mean "no ids".
func parseCheckpoint(b []byte) (Checkpoint, error) {
	if ms, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		return Checkpoint{Time: ms}, nil
	}
	var cp Checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint %q: %w", b, err)
	}
	return cp, nil
}

// fetchFunc reads stored events with from <= time (and time <= to when to > 0), oldest first, at most max.
type fetchFunc[E any] func(ctx context.Context, from, to int64, max int) ([]E, error)

// walker visits stored events once each, oldest first, paging by time (not by offset: an offset into a set
// that grows, expires and orders ties arbitrarily skips and repeats).
type walker[E any] struct {
	fetch   fetchFunc[E]
	key     func(E) (id string, millis int64)
	visit   func(E) error
	ahead   func([]E) // if set, given each page's events not seen yet before they are visited (to read ahead)
	page    int
	overlap time.Duration
	until   int64 // unix ms: events after it wait for a later walk (0: no bound)
}

// walk visits every event from cp.Time-overlap on that cp has not seen, and returns the checkpoint after the
// events it visited (also on error: what was visited stays done).
func (w walker[E]) walk(ctx context.Context, cp Checkpoint) (Checkpoint, error) {
	next := Checkpoint{Time: cp.Time, Seen: maps.Clone(cp.Seen)}
	if next.Seen == nil {
		next.Seen = map[string]int64{}
	}
	from := max(0, cp.Time-w.overlap.Milliseconds())
	if cp.Time == 0 {
		from = 0 // first pass: everything Keycloak kept
	}
	for {
		if w.until > 0 && from > w.until {
			return next.pruned(w.overlap), nil
		}
		evs, err := w.fetch(ctx, from, w.until, w.page)
		if err != nil {
			return next.pruned(w.overlap), err
		}
		full := len(evs) >= w.page
		if full {
			if _, first := w.key(evs[0]); first == w.last(evs) {
				// One millisecond fills the page: read that millisecond whole, then go past it.
				if evs, err = w.wholeMillisecond(ctx, first); err != nil {
					return next.pruned(w.overlap), err
				}
				from = first + 1
			} else {
				from = w.last(evs) // its other events, if any, open the next page; the seen ones are skipped
			}
		}
		if w.ahead != nil {
			w.ahead(slices.DeleteFunc(slices.Clone(evs), func(e E) bool { id, _ := w.key(e); _, done := next.Seen[id]; return done }))
		}
		if err := w.visitNew(evs, &next); err != nil || !full {
			return next.pruned(w.overlap), err
		}
	}
}

func (w walker[E]) last(evs []E) int64 {
	_, t := w.key(evs[len(evs)-1])
	return t
}

// wholeMillisecond reads all events of one millisecond, growing the page until it is not full.
func (w walker[E]) wholeMillisecond(ctx context.Context, ms int64) ([]E, error) {
	for n := 2 * w.page; ; n *= 2 {
		evs, err := w.fetch(ctx, ms, ms, n)
		if err != nil || len(evs) < n {
			return evs, err
		}
	}
}

func (w walker[E]) visitNew(evs []E, cp *Checkpoint) error {
	for _, e := range evs {
		id, t := w.key(e)
		if _, done := cp.Seen[id]; done {
			continue
		}
		if err := w.visit(e); err != nil {
			return err
		}
		cp.Seen[id] = t
		cp.Time = max(cp.Time, t)
	}
	return nil
}

// pruned keeps the ids the next walk can re-read (from Time-overlap on), at most maxSeen, the newest.
func (cp Checkpoint) pruned(overlap time.Duration) Checkpoint {
	floor := cp.Time - overlap.Milliseconds()
	maps.DeleteFunc(cp.Seen, func(_ string, t int64) bool { return t < floor })
	if len(cp.Seen) > maxSeen {
		ids := slices.SortedFunc(maps.Keys(cp.Seen), func(a, b string) int { return cmp.Compare(cp.Seen[b], cp.Seen[a]) })
		for _, id := range ids[maxSeen:] {
			if cp.Seen[id] < cp.Time { // never forget the newest millisecond: it is re-read for sure
				delete(cp.Seen, id)
			}
		}
	}
	return cp
}

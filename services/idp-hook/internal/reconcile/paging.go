package reconcile

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
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
//
// The ids are bounded (maxSeen). When a burst overflows them, the oldest milliseconds are forgotten whole:
// Floor is the first millisecond whose ids are all still kept, and Counts the events visited per second whose
// ids were forgotten. A walk then starts its visits at Floor, not at Time-overlap, and only lists the part of
// the overlap below Floor, visiting a second again only if Keycloak now holds more events in it than were
// visited there (an event stored late). So a walk never replays what it already replayed.
type Checkpoint struct {
	Time   int64            `json:"time"`             // unix milliseconds
	Seen   map[string]int64 `json:"seen,omitempty"`   // event id -> its time
	Floor  int64            `json:"floor,omitempty"`  // unix ms: every visited event before it has its id forgotten
	Counts map[int64]int    `json:"counts,omitempty"` // unix second -> visited events in it whose ids are forgotten
}

// maxSeen bounds the ids a checkpoint keeps by default (its KV value stays far below NATS' 1 MB).
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
	fetch fetchFunc[E]
	key   func(E) (id string, millis int64)
	visit func(E) error
	ahead func([]E) // if set, given each page's events not seen yet before they are visited (to read ahead)
	// flush, if set, runs after each page's visits (which may only have queued their work); the page's events
	// count as visited only if it succeeds.
	flush   func() error
	page    int
	overlap time.Duration
	until   int64 // unix ms: events after it wait for a later walk (0: no bound)
	maxSeen int   // ids the checkpoint keeps (0: maxSeen)
}

// walk visits every event from cp.Time-overlap on that cp has not seen, and returns the checkpoint after the
// events it visited (also on error: what was visited stays done).
func (w walker[E]) walk(ctx context.Context, cp Checkpoint) (Checkpoint, error) {
	next := Checkpoint{Time: cp.Time, Seen: maps.Clone(cp.Seen), Floor: cp.Floor, Counts: maps.Clone(cp.Counts)}
	if next.Seen == nil {
		next.Seen = map[string]int64{}
	}
	if next.Counts == nil {
		next.Counts = map[int64]int{}
	}
	from := max(0, cp.Time-w.overlap.Milliseconds())
	if cp.Time == 0 {
		from = 0 // first pass: everything Keycloak kept
	}
	if next.Floor > from {
		if err := w.recheck(ctx, from, &next); err != nil {
			return w.pruned(next), err
		}
		from = next.Floor
	}
	for {
		if w.until > 0 && from > w.until {
			return w.pruned(next), nil
		}
		evs, err := w.fetch(ctx, from, w.until, w.page)
		if err != nil {
			return w.pruned(next), err
		}
		full := len(evs) >= w.page
		if full {
			if _, first := w.key(evs[0]); first == w.last(evs) {
				// One millisecond fills the page: read that millisecond whole, then go past it.
				if evs, err = w.wholeMillisecond(ctx, first); err != nil {
					return w.pruned(next), err
				}
				from = first + 1
			} else {
				from = w.last(evs) // its other events, if any, open the next page; the seen ones are skipped
			}
		}
		if w.ahead != nil {
			w.ahead(slices.DeleteFunc(slices.Clone(evs), func(e E) bool { id, _ := w.key(e); _, done := next.Seen[id]; return done }))
		}
		if err := w.visitPage(evs, &next); err != nil || !full {
			return w.pruned(next), err
		}
	}
}

// recheck lists the part of the overlap whose ids are forgotten, [from, cp.Floor), and visits again only the
// seconds in which Keycloak now holds more events than were visited there: an event stored late is among
// them. Listing is all it costs otherwise (no state read, no publish).
func (w walker[E]) recheck(ctx context.Context, from int64, cp *Checkpoint) error {
	from = from / 1000 * 1000 // Counts are per second
	held := map[int64]int{}
	if err := w.each(ctx, from, cp.Floor-1, func(evs []E) error {
		for _, e := range evs {
			_, t := w.key(e)
			held[t/1000]++
		}
		return nil
	}); err != nil {
		return err
	}
	for _, sec := range slices.Sorted(maps.Keys(held)) {
		if held[sec] <= cp.Counts[sec] {
			continue
		}
		err := w.each(ctx, max(from, sec*1000), min(cp.Floor-1, sec*1000+999), func(evs []E) error {
			if w.ahead != nil {
				w.ahead(evs)
			}
			for _, e := range evs {
				if err := w.visit(e); err != nil {
					return err
				}
			}
			return w.flushed()
		})
		if err != nil {
			return err
		}
		cp.Counts[sec] = held[sec]
	}
	return nil
}

// each reads every event of [from, to] once, oldest first, in pages of ten walker pages, at most 1,000 events
// unless the walker's own pages are larger (only listed).
func (w walker[E]) each(ctx context.Context, from, to int64, fn func([]E) error) error {
	lw := w
	lw.page = max(w.page, min(10*w.page, 1000))
	for from <= to {
		evs, err := lw.fetch(ctx, from, to, lw.page)
		if err != nil {
			return err
		}
		if len(evs) < lw.page {
			return fn(evs)
		}
		_, first := lw.key(evs[0])
		if last := lw.last(evs); first != last {
			// Keep what is before the last millisecond: the next page starts with all of it.
			evs = slices.DeleteFunc(evs, func(e E) bool { _, t := lw.key(e); return t == last })
			from = last
		} else {
			if evs, err = lw.wholeMillisecond(ctx, first); err != nil {
				return err
			}
			from = first + 1
		}
		if err := fn(evs); err != nil {
			return err
		}
	}
	return nil
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

// visitPage visits the page's events cp has not seen and marks those visited, once flushed, as seen.
func (w walker[E]) visitPage(evs []E, cp *Checkpoint) error {
	var done []E
	var err error
	for _, e := range evs {
		id, _ := w.key(e)
		if _, seen := cp.Seen[id]; seen {
			continue
		}
		if err = w.visit(e); err != nil {
			break
		}
		done = append(done, e)
	}
	if ferr := w.flushed(); ferr != nil {
		return errors.Join(err, ferr) // none of the page counts: the next walk visits it again
	}
	for _, e := range done {
		id, t := w.key(e)
		cp.Seen[id] = t
		cp.Time = max(cp.Time, t)
	}
	return err
}

func (w walker[E]) flushed() error {
	if w.flush == nil {
		return nil
	}
	return w.flush()
}

func (w walker[E]) pruned(cp Checkpoint) Checkpoint {
	limit := w.maxSeen
	if limit <= 0 {
		limit = maxSeen
	}
	return cp.pruned(w.overlap, limit)
}

// pruned keeps the ids the next walk can re-read (from Time-overlap on), at most limit, the newest. Beyond the
// limit it forgets the oldest milliseconds whole and raises Floor past them; every id it forgets is counted
// in its second (see Checkpoint).
func (cp Checkpoint) pruned(overlap time.Duration, limit int) Checkpoint {
	if cp.Counts == nil {
		cp.Counts = map[int64]int{}
	}
	forget := func(keep func(t int64) bool) {
		maps.DeleteFunc(cp.Seen, func(_ string, t int64) bool {
			if keep(t) {
				return false
			}
			cp.Counts[t/1000]++
			return true
		})
	}
	floor := cp.Time - overlap.Milliseconds()
	forget(func(t int64) bool { return t >= floor })
	if len(cp.Seen) > limit {
		times := slices.SortedFunc(maps.Values(cp.Seen), func(a, b int64) int { return cmp.Compare(b, a) })
		// Forget the (limit+1)-th newest millisecond and all before it, but never the newest: it is re-read for sure.
		if cut, ok := newestBefore(times, times[limit], cp.Time); ok {
			forget(func(t int64) bool { return t > cut })
			cp.Floor = max(cp.Floor, cut+1)
		}
	}
	maps.DeleteFunc(cp.Counts, func(sec int64, _ int) bool { return sec < floor/1000 })
	if len(cp.Counts) == 0 {
		cp.Counts = nil
	}
	return cp
}

// newestBefore is at, or when at is the newest millisecond the next older time of times (sorted newest first).
func newestBefore(times []int64, at, newest int64) (int64, bool) {
	if at < newest {
		return at, true
	}
	for _, t := range times {
		if t < newest {
			return t, true
		}
	}
	return 0, false
}

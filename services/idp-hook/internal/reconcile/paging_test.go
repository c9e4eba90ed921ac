package reconcile

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"
)

type ev struct {
	id string
	t  int64
}

// store stands in for Keycloak's event store (the real one is exercised in the kctest-based tests): it
// filters by time and sorts by time only, so ties come back in a different order on every query, as a
// database is free to return them.
type store struct {
	evs     []ev
	rng     *rand.Rand
	queries int
	// onQuery runs before each query (e.g. to store more events while a pass pages).
	onQuery func(s *store)
}

func (s *store) fetch(_ context.Context, from, to int64, max int) ([]ev, error) {
	s.queries++
	if s.onQuery != nil {
		s.onQuery(s)
	}
	var out []ev
	for _, e := range s.evs {
		if e.t >= from && (to <= 0 || e.t <= to) {
			out = append(out, e)
		}
	}
	s.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	sort.SliceStable(out, func(i, j int) bool { return out[i].t < out[j].t })
	return out[:min(len(out), max)], nil
}

func stored(spec ...int) []ev {
	// spec: pairs of (time, count)
	var out []ev
	for i := 0; i < len(spec); i += 2 {
		for n := range spec[i+1] {
			out = append(out, ev{fmt.Sprintf("e%d-%d", spec[i], n), int64(spec[i])})
		}
	}
	return out
}

func TestWalkVisitsEachStoredEventOnce(t *testing.T) {
	tests := []struct {
		name    string
		page    int
		overlap time.Duration
		first   []ev // stored before the first pass
		second  []ev // stored before the second pass
	}{
		{"no ties", 3, 0, stored(1, 1, 2, 1, 3, 1, 4, 1, 5, 1, 6, 1, 7, 1), stored(8, 1)},
		{"ties across a page boundary", 3, 0, stored(1, 2, 2, 2, 3, 2, 4, 2), stored(4, 1, 5, 1)},
		{"a millisecond fills several pages", 2, 0, stored(1, 1, 5, 7, 6, 1), stored(6, 3)},
		{"the page is exactly one millisecond", 4, 0, stored(10, 4), stored(10, 1, 11, 4)},
		{"a new event shares the checkpoint's millisecond", 10, 0, stored(1, 2, 2, 3), stored(2, 2)},
		{"late-stored event inside the overlap", 3, 5 * time.Millisecond, stored(10, 3, 20, 3), stored(17, 1, 21, 2)},
		{"empty store", 5, 0, nil, stored(1, 1)},
	}
	for _, tt := range tests {
		for seed := range uint64(20) {
			t.Run(fmt.Sprintf("%s/seed%d", tt.name, seed), func(t *testing.T) {
				s := &store{evs: slices.Clone(tt.first), rng: rand.New(rand.NewPCG(seed, 1))}
				seen, ahead := map[string]int{}, map[string]int{}
				w := walker[ev]{page: tt.page, overlap: tt.overlap, fetch: s.fetch,
					key: func(e ev) (string, int64) { return e.id, e.t },
					ahead: func(evs []ev) {
						for _, e := range evs {
							ahead[e.id]++
						}
					},
					visit: func(e ev) error {
						if ahead[e.id] == 0 {
							t.Errorf("%s visited before it was read ahead", e.id)
						}
						seen[e.id]++
						return nil
					}}
				cp, err := w.walk(context.Background(), Checkpoint{})
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range tt.second {
					s.evs = append(s.evs, ev{"new-" + e.id, e.t})
				}
				if cp, err = w.walk(context.Background(), cp); err != nil {
					t.Fatal(err)
				}
				if _, err = w.walk(context.Background(), cp); err != nil { // nothing new: visits nothing
					t.Fatal(err)
				}
				for _, e := range s.evs {
					if seen[e.id] != 1 {
						t.Errorf("%s visited %d times", e.id, seen[e.id])
					}
				}
				if len(seen) != len(s.evs) {
					t.Errorf("visited %d distinct events, stored %d", len(seen), len(s.evs))
				}
				for id, n := range ahead {
					if n > 1 {
						t.Errorf("%s read ahead %d times: the ones already seen are not read again", id, n)
					}
				}
			})
		}
	}
}

// Events stored while a pass pages (at and after the cursor) are visited in that pass or the next, once.
func TestWalkWhileEventsArrive(t *testing.T) {
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 2))
		s := &store{evs: stored(1, 3, 2, 3), rng: rng}
		next := 0
		s.onQuery = func(s *store) {
			now := s.evs[len(s.evs)-1].t + int64(rng.IntN(2)) // the newest millisecond again, or the next
			for range rng.IntN(3) {
				next++
				s.evs = append(s.evs, ev{fmt.Sprintf("live-%d", next), now})
			}
		}
		seen := map[string]int{}
		w := walker[ev]{page: 2, fetch: s.fetch, key: func(e ev) (string, int64) { return e.id, e.t },
			visit: func(e ev) error { seen[e.id]++; return nil }}
		cp := Checkpoint{}
		var err error
		for range 5 {
			if cp, err = w.walk(context.Background(), cp); err != nil {
				t.Fatal(err)
			}
		}
		s.onQuery = nil
		if _, err = w.walk(context.Background(), cp); err != nil {
			t.Fatal(err)
		}
		for _, e := range s.evs {
			if seen[e.id] != 1 {
				t.Fatalf("seed %d: %s (t=%d) visited %d times", seed, e.id, e.t, seen[e.id])
			}
		}
	}
}

// A failed visit keeps what was done: the next walk resumes with the event that failed.
func TestWalkResumesAfterAFailure(t *testing.T) {
	s := &store{evs: stored(1, 2, 2, 2, 3, 2), rng: rand.New(rand.NewPCG(1, 1))}
	var order []string
	fail := "e2-1"
	w := walker[ev]{page: 2, fetch: s.fetch, key: func(e ev) (string, int64) { return e.id, e.t },
		visit: func(e ev) error {
			if e.id == fail {
				fail = ""
				return fmt.Errorf("bus down")
			}
			order = append(order, e.id)
			return nil
		}}
	cp, err := w.walk(context.Background(), Checkpoint{})
	if err == nil {
		t.Fatal("want the visit's error")
	}
	if _, err := w.walk(context.Background(), cp); err != nil {
		t.Fatal(err)
	}
	slices.Sort(order)
	if want := []string{"e1-0", "e1-1", "e2-0", "e2-1", "e3-0", "e3-1"}; !slices.Equal(order, want) {
		t.Fatalf("visited %v, want each of %v once", order, want)
	}
}

func TestCheckpointFormats(t *testing.T) {
	tests := []struct {
		in   string
		want Checkpoint
		bad  bool
	}{
		{"1795520534899", Checkpoint{Time: 1795520534899}, false}, // written by earlier versions
		{`{"time":5,"seen":{"a":5,"b":4}}`, Checkpoint{Time: 5, Seen: map[string]int64{"a": 5, "b": 4}}, false},
		{"garbage", Checkpoint{}, true},
	}
	for _, tt := range tests {
		got, err := parseCheckpoint([]byte(tt.in))
		if (err != nil) != tt.bad || got.Time != tt.want.Time || len(got.Seen) != len(tt.want.Seen) {
			t.Errorf("parseCheckpoint(%q) = %+v, %v", tt.in, got, err)
		}
	}
}

func TestPrunedKeepsTheOverlapAndTheNewestMillisecond(t *testing.T) {
	seen := map[string]int64{"old": 1, "edge": 95, "new": 100}
	for i := range maxSeen + 10 {
		seen[fmt.Sprintf("x%d", i)] = 99
	}
	cp := Checkpoint{Time: 100, Seen: seen}.pruned(5*time.Millisecond, maxSeen)
	if _, ok := cp.Seen["old"]; ok {
		t.Error("kept an id from before the overlap")
	}
	if _, ok := cp.Seen["new"]; !ok {
		t.Error("dropped an id of the newest millisecond")
	}
	if len(cp.Seen) > maxSeen+1 {
		t.Errorf("kept %d ids, cap %d", len(cp.Seen), maxSeen)
	}
}

// Events newer than the walk's bound wait for a later walk (the webhook's copy has its chance first), and are
// then visited once.
func TestWalkLeavesEventsNewerThanItsBoundForLater(t *testing.T) {
	s := &store{evs: stored(1, 2, 5, 3, 9, 2), rng: rand.New(rand.NewPCG(2, 2))}
	var order []string
	w := walker[ev]{page: 2, overlap: 10 * time.Millisecond, until: 5, fetch: s.fetch,
		key:   func(e ev) (string, int64) { return e.id, e.t },
		visit: func(e ev) error { order = append(order, e.id); return nil }}
	cp, err := w.walk(context.Background(), Checkpoint{})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(order)
	if want := []string{"e1-0", "e1-1", "e5-0", "e5-1", "e5-2"}; !slices.Equal(order, want) {
		t.Fatalf("first walk visited %v, want %v", order, want)
	}
	order, w.until = nil, 20
	if _, err := w.walk(context.Background(), cp); err != nil {
		t.Fatal(err)
	}
	if want := []string{"e9-0", "e9-1"}; !slices.Equal(slices.Sorted(slices.Values(order)), want) {
		t.Fatalf("second walk visited %v, want %v", order, want)
	}
}

// A burst larger than the ids a checkpoint keeps is visited once: the next walks start after the forgotten
// milliseconds and only list them, and an event stored late among them is still found.
func TestWalkAfterTheSeenIdsOverflow(t *testing.T) {
	for seed := range uint64(10) {
		s := &store{rng: rand.New(rand.NewPCG(seed, 3))}
		for i := range 60 {
			s.evs = append(s.evs, ev{fmt.Sprintf("b%d", i), int64(1000 + 100*(i/2))}) // two a millisecond, over 3 s
		}
		seen := map[string]int{}
		w := walker[ev]{page: 4, overlap: time.Minute, maxSeen: 10, fetch: s.fetch,
			key:   func(e ev) (string, int64) { return e.id, e.t },
			visit: func(e ev) error { seen[e.id]++; return nil }}
		walkVisits := func(cp Checkpoint) (Checkpoint, int) {
			t.Helper()
			before := sum(seen)
			cp, err := w.walk(context.Background(), cp)
			if err != nil {
				t.Fatal(err)
			}
			return cp, sum(seen) - before
		}
		cp, n := walkVisits(Checkpoint{})
		if n != 60 || len(cp.Seen) > 10 || cp.Floor == 0 {
			t.Fatalf("seed %d: first walk visited %d (want 60), kept %d ids (cap 10), floor %d", seed, n, len(cp.Seen), cp.Floor)
		}
		for range 2 {
			if cp, n = walkVisits(cp); n != 0 {
				t.Fatalf("seed %d: a walk over nothing new visited %d events", seed, n)
			}
		}
		s.evs = append(s.evs, ev{"late", 1150}) // stored late, in the forgotten part
		if cp, _ = walkVisits(cp); seen["late"] != 1 {
			t.Fatalf("seed %d: the late-stored event visited %d times, want 1", seed, seen["late"])
		}
		for _, e := range s.evs {
			if e.t >= 2000 && seen[e.id] != 1 {
				t.Errorf("seed %d: %s (outside the late event's second) visited %d times", seed, e.id, seen[e.id])
			}
		}
		if _, n = walkVisits(cp); n != 0 {
			t.Fatalf("seed %d: the walk after the late event visited %d events", seed, n)
		}
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

package main

import (
	"slices"
	"testing"
	"time"
)

func TestPerSecondP99TellsAStallFromASteadyLatency(t *testing.T) {
	start := time.Unix(1000, 0)
	ms := time.Millisecond
	// Three seconds of 100 users each: 2 ms each, except 50 users of the second one, which waited 80 ms.
	var accepted, created []time.Time
	for s := range 3 {
		for i := range 100 {
			at := start.Add(time.Duration(s)*time.Second + time.Duration(i)*10*ms)
			lat := 2 * ms
			if s == 1 && i < 50 {
				lat = 80 * ms
			}
			accepted, created = append(accepted, at), append(created, at.Add(lat))
		}
	}
	p99s := perSecondP99(start, accepted, created)
	if want := []time.Duration{2 * ms, 80 * ms, 2 * ms}; !slices.Equal(p99s, want) {
		t.Fatalf("per-second p99: %v; want %v", p99s, want)
	}
	if median, worst := medianAndWorst(p99s); median != 2*ms || worst != 80*ms {
		t.Fatalf("median %v, worst %v; want 2ms and 80ms", median, worst)
	}
	if m, w := medianAndWorst(perSecondP99(start, nil, nil)); m != 0 || w != 0 {
		t.Fatalf("no users: %v, %v; want 0, 0", m, w)
	}
}

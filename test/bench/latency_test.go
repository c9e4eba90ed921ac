package main

import (
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
	median, worst := perSecondP99(start, accepted, created)
	if median != 2*ms || worst != 80*ms {
		t.Fatalf("per-second p99: median %v, worst %v; want 2ms and 80ms", median, worst)
	}
	if m, w := perSecondP99(start, nil, nil); m != 0 || w != 0 {
		t.Fatalf("no users: %v, %v; want 0, 0", m, w)
	}
}

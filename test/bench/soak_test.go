package main

import (
	"testing"
	"time"
)

func TestSustainedNeedsTheRateOfferedAndASubSecondP99(t *testing.T) {
	for _, c := range []struct {
		offered  int
		achieved float64
		p99      time.Duration
		want     bool
	}{
		{2000, 1992, 168 * time.Millisecond, true},
		{1000, 950, 900 * time.Millisecond, true},
		{3000, 2502, 894 * time.Millisecond, false}, // behind by a sixth: queueing, not keeping up
		{1500, 1499, time.Second, false},            // kept up, but a person waits a second
		{500, 0, 0, false},
	} {
		if got := sustained(c.offered, c.achieved, c.p99); got != c.want {
			t.Errorf("sustained(%d, %.0f, %s) = %v, want %v", c.offered, c.achieved, c.p99, got, c.want)
		}
	}
}

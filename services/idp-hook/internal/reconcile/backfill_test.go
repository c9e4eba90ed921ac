package reconcile

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestBackfillProgressLine(t *testing.T) {
	for _, c := range []struct {
		name          string
		total, offset int
		st            BackfillStats
		want          string
	}{
		{"no count", 0, 0, BackfillStats{Read: 100, Published: 100, New: 100}, "read 100/0 published 100 (new 100) 10 users/s ETA ?"},
		{"half way", 200, 0, BackfillStats{Read: 100, Published: 90, New: 80}, "read 100/200 published 90 (new 80) 10 users/s ETA 10s"},
		{"resumed", 300, 100, BackfillStats{Read: 100, Published: 100}, "read 200/300 published 100 (new 0) 10 users/s ETA 10s"},
		{"more than counted", 50, 0, BackfillStats{Read: 100}, "read 100/50 published 0 (new 0) 10 users/s ETA 0s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			p := newProgress(&b, time.Second, c.total, c.offset)
			p.start = time.Now().Add(-10 * time.Second)
			p.print(c.st, "")
			if got := strings.TrimSpace(b.String()); got != "backfill: "+c.want {
				t.Errorf("got  %q\nwant %q", got, "backfill: "+c.want)
			}
		})
	}
}

func TestPageForReadsALargeRealmInFewRequests(t *testing.T) {
	for _, c := range []struct{ users, want int }{
		{0, 5000},           // no count: the smallest page
		{100_000, 5000},     // 20 requests
		{200_000, 5000},     // 40
		{400_000, 10_000},   // 40
		{1_000_000, 25_000}, // 40
		{5_000_000, 25_000}, // 200: memory stays bounded
	} {
		if got := PageFor(c.users); got != c.want {
			t.Errorf("PageFor(%d) = %d, want %d", c.users, got, c.want)
		}
	}
}

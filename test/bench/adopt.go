package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// adopted waits until user-service holds n active users of the realm (rows in Postgres, not events on the
// bus) and returns how long after start that was.
func (e *benchEnv) adopted(ctx context.Context, realm string, n int, start time.Time, out io.Writer) (time.Duration, error) {
	pool, err := pgxpool.New(ctx, e.pg.URL("users"))
	if err != nil {
		return 0, err
	}
	defer pool.Close()
	last, limit := time.Now(), max(30*time.Minute, time.Duration(n/100)*time.Second) // 100 users/s at least
	for {
		var got int
		began := time.Now()
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM users WHERE realm = $1 AND status = 'active'`, realm).Scan(&got); err != nil {
			return 0, fmt.Errorf("count adopted users: %w", err)
		}
		if got >= n {
			return time.Since(start), nil
		}
		if time.Since(last) > 5*time.Second {
			last = time.Now()
			fmt.Fprintf(out, "%s: %d/%d users active in Postgres after %s\n", realm, got, n, time.Since(start).Round(time.Second))
		}
		if time.Since(start) > limit {
			return 0, fmt.Errorf("only %d of %d users of %s active after %s", got, n, realm, limit)
		}
		// Every 100 ms, or less often when the count itself is slow (a million rows): the poll keeps to
		// about 5 % of one Postgres backend, not a share of the pipeline it measures.
		select {
		case <-time.After(max(100*time.Millisecond, 19*time.Since(began))):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// cpuSeconds is the user+system CPU time a process has used so far (0 if it is gone).
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	_, rest, ok := strings.Cut(string(b), ") ") // the command name may hold spaces
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ
}

// reconciled reads the reconciler's bbq_idphook_reconciled_events_total from its ops address: events new to
// the bus and events the bus dropped as duplicates.
func reconciled(ctx context.Context, opsAddr string) (recovered, duplicate int, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+opsAddr+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("reconciler metrics: %w", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || !strings.HasPrefix(name, "bbq_idphook_reconciled_events_total{") {
			continue
		}
		v, _ := strconv.ParseFloat(value, 64)
		switch {
		case strings.Contains(name, `outcome="recovered"`):
			recovered = int(v)
		case strings.Contains(name, `outcome="duplicate"`):
			duplicate = int(v)
		}
	}
	return recovered, duplicate, sc.Err()
}

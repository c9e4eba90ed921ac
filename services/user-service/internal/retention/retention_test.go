package retention_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/connectedbbq/platform/services/user-service/internal/retention"
	"github.com/connectedbbq/platform/services/user-service/internal/store/storetest"
	"github.com/connectedbbq/platform/testing/pgtest"
)

var srv *pgtest.Server

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &srv)) }

// A round on real Postgres deletes what is past the window, counts it, and leaves the rest.
func TestRoundPrunesAndCounts(t *testing.T) {
	s := storetest.Open(t, srv)
	ctx := context.Background()
	if _, err := s.Pool().Exec(ctx, `INSERT INTO processed_events (id, processed_at) VALUES
		('gone-1', now() - interval '15 days'), ('gone-2', now() - interval '40 days'), ('kept', now() - interval '13 days')`); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	p := retention.New(retention.Config{Keep: 14 * 24 * time.Hour, Interval: time.Hour, Batch: 1}, s,
		slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	n, err := p.Round(ctx)
	if err != nil || n != 2 {
		t.Fatalf("Round = %d, %v; want 2", n, err)
	}
	var ids []string
	rows, _ := s.Pool().Query(ctx, `SELECT id FROM processed_events`)
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if len(ids) != 1 || ids[0] != "kept" {
		t.Errorf("left %v, want [kept]", ids)
	}
	want := "# HELP bbq_users_inbox_pruned_total Inbox entries (processed_events) deleted for being older than the replay window.\n" +
		"# TYPE bbq_users_inbox_pruned_total counter\nbbq_users_inbox_pruned_total 2\n"
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "bbq_users_inbox_pruned_total"); err != nil {
		t.Error(err)
	}
}

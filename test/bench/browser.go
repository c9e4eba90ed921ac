package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/connectedbbq/platform/dev/stack"
)

// browserResult is what feel.mjs measured in Chromium, in milliseconds.
type browserResult struct {
	Verify, Dashboard, Invite                  []float64
	verifyP50, verifyP99, inviteP50, inviteP99 time.Duration
	dashP50, dashP99                           time.Duration
}

// runBrowser runs test/bench/feel.mjs (playwright-core from dashboard/web, Debian's Chromium) against the
// stack's dashboard: n sign-ups, and invitations accepted in the page.
func runBrowser(ctx context.Context, s *feelStack, n, invites int, out io.Writer) (*browserResult, error) {
	root, err := stack.Root()
	if err != nil {
		return nil, err
	}
	cmd := osexec.CommandContext(ctx, "node", filepath.Join(root, "test", "bench", "feel.mjs"))
	cmd.Env = append(os.Environ(), "DASHBOARD_URL="+s.public, "MAIL_DIR="+filepath.Join(s.dir, "mail"),
		"FEEL_N="+strconv.Itoa(n), "FEEL_INVITES="+strconv.Itoa(invites), "FEEL_ROOT="+root)
	cmd.Stderr = out
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("node feel.mjs: %w", err)
	}
	var r browserResult
	var got bool
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		if js, ok := strings.CutPrefix(line, "FEEL_RESULT "); ok {
			got = json.Unmarshal([]byte(js), &r) == nil
			continue
		}
		fmt.Fprintln(out, line)
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("node feel.mjs: %w", err)
	}
	if !got {
		return nil, fmt.Errorf("node feel.mjs printed no FEEL_RESULT")
	}
	r.verifyP50, r.verifyP99 = quantiles(msDurations(r.Verify))
	r.inviteP50, r.inviteP99 = quantiles(msDurations(r.Invite))
	r.dashP50, r.dashP99 = quantiles(msDurations(r.Dashboard))
	return &r, nil
}

func msDurations(ms []float64) []time.Duration {
	ds := make([]time.Duration, len(ms))
	for i, m := range ms {
		ds[i] = time.Duration(m * float64(time.Millisecond))
	}
	return ds
}

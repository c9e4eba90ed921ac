package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	osexec "os/exec"
	"regexp"
	"runtime/pprof"
	"strconv"
)

// NATS runs inside the bench process, beside the load driver and the SMTP sink, so its CPU is the bench
// process's CPU times the share of the process's CPU profile samples spent in nats-server's code. The
// garbage collector's background workers serve everyone and are shared out in proportion.
const (
	natsFrames = `github.com/nats-io/nats-server/v2/`
	gcFrames   = `runtime\.gcBgMarkWorker`
)

// cpuProfile is this process's CPU profile while it runs.
type cpuProfile struct{ path string }

func startCPUProfile() (*cpuProfile, error) {
	f, err := os.CreateTemp("", "bbq-bench-cpu-*.pprof")
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		_ = os.Remove(f.Name())
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return &cpuProfile{path: f.Name()}, nil
}

// stop ends the profile and returns the share of its samples in NATS (GC shared out).
func (p *cpuProfile) stop(ctx context.Context) (float64, error) {
	pprof.StopCPUProfile()
	defer func() { _ = os.Remove(p.path) }()
	nats, err := focusedShare(ctx, p.path, natsFrames)
	if err != nil {
		return 0, err
	}
	gc, err := focusedShare(ctx, p.path, gcFrames)
	if err != nil {
		return 0, err
	}
	if gc >= 1 {
		return 0, nil
	}
	return nats / (1 - gc), nil
}

var accountingRE = regexp.MustCompile(`Showing nodes accounting for [^,]+, ([0-9.]+)% of`)

// focusedShare is the share of the profile's samples with a frame matching focus (`go tool pprof -focus`).
func focusedShare(ctx context.Context, path, focus string) (float64, error) {
	cmd := osexec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=1000000", "-nodefraction=0", "-focus="+focus, path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("go tool pprof: %w: %s", err, out)
	}
	if bytes.Contains(out, []byte("no samples")) || bytes.Contains(out, []byte("matched no samples")) {
		return 0, nil
	}
	m := accountingRE.FindSubmatch(out)
	if m == nil {
		return 0, nil // nothing matched the focus
	}
	pct, err := strconv.ParseFloat(string(m[1]), 64)
	return pct / 100, err
}

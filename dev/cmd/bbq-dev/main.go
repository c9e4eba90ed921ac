// Command bbq-dev runs the whole platform on this machine (`make run`): JetStream in this process,
// Postgres from the local binaries, an SMTP sink, Keycloak, idp-hook, user-service and the
// dashboard, all keeping their data under one folder. It prints where each part listens.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"

	"github.com/connectedbbq/platform/dev/stack"
	"github.com/connectedbbq/platform/pkg/service"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bbq-dev:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	log, err := service.NewLogger(os.Stderr, "info", "bbq-dev", service.Version())
	if err != nil {
		return err
	}
	cfg := stack.DefaultLocal(dataDir(), log)
	cfg.Telemetry = stack.TelemetryFrom(os.Environ()) // OTEL_EXPORTER_OTLP_ENDPOINT=… make run: traces, Keycloak's included
	fs := flag.NewFlagSet("bbq-dev", flag.ContinueOnError)
	fs.StringVar(&cfg.Dir, "data", cfg.Dir, "folder for all data, logs and generated secrets (BBQ_DATA)")
	fs.BoolVar(&cfg.Keycloak, "keycloak", cfg.Keycloak, "start Keycloak")
	fs.BoolVar(&cfg.Dashboard, "dashboard", cfg.Dashboard, "start the dashboard")
	if err := fs.Parse(args); err != nil {
		return err
	}
	l, err := stack.StartLocal(ctx, cfg)
	if err != nil {
		return err
	}
	defer l.Stop()
	if err := os.WriteFile(filepath.Join(cfg.Dir, "run.env"), []byte(l.Env()), 0o600); err != nil {
		return err
	}
	printURLs(out, l.URLs, cfg.Dir)
	<-ctx.Done()
	fmt.Fprintln(out, "stopping…")
	return nil
}

// dataDir is $BBQ_DATA, else a folder Postgres (which never runs as root) can reach: under
// /var/lib for root, under the user's data home otherwise.
func dataDir() string {
	if d := os.Getenv("BBQ_DATA"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/var/lib/connected-bbq"
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "connected-bbq")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "share", "connected-bbq")
}

func printURLs(out io.Writer, urls map[string]string, dir string) {
	names := make([]string, 0, len(urls))
	for n := range urls {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(out, "\nConnected BBQ is running:")
	for _, n := range names {
		fmt.Fprintf(out, "  %-24s %s\n", n, urls[n])
	}
	if u, ok := urls["dashboard"]; ok {
		fmt.Fprintf(out, "\nSign up at %s — verification mails are printed in the log above (SMTP sink).\n", u)
	}
	fmt.Fprintf(out, "Data, logs and secrets: %s (run.env lists the URLs). Ctrl-C stops everything.\n", dir)
}

// Command idp-hook receives Keycloak's signed webhooks and publishes them as CloudEvents on the bus.
//
//	idp-hook [serve]   receive webhooks, and reconcile with Keycloak's stored events (default)
//	idp-hook backfill [-page N] [-readers N] [-idps a,b]  publish a registration for every existing Keycloak user, then exit;
//	                   resumable: a checkpoint in the RECONCILE_BUCKET KV bucket says where a killed run got to
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/connectedbbq/platform/pkg/bus"
	"github.com/connectedbbq/platform/pkg/keycloak"
	"github.com/connectedbbq/platform/pkg/ops"
	"github.com/connectedbbq/platform/pkg/service"
	"github.com/connectedbbq/platform/pkg/tracing"
	"github.com/connectedbbq/platform/pkg/webhook"
	"github.com/connectedbbq/platform/services/idp-hook/internal/config"
	"github.com/connectedbbq/platform/services/idp-hook/internal/lease"
	"github.com/connectedbbq/platform/services/idp-hook/internal/receiver"
	"github.com/connectedbbq/platform/services/idp-hook/internal/reconcile"
)

func main() {
	service.Main("idp-hook", func(ctx context.Context) error { return run(ctx, os.Args[1:], service.Environ()) })
}

func run(ctx context.Context, args []string, environ map[string]string) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	if cmd != "serve" && cmd != "backfill" {
		return fmt.Errorf("unknown command %q (want serve or backfill)", cmd)
	}
	cfg, err := config.Load(environ)
	if err != nil {
		return err
	}
	svc, err := service.Start(ctx, "idp-hook", service.Config{LogLevel: cfg.LogLevel}, environ, os.Stderr)
	if err != nil {
		return err
	}
	defer svc.Stop()
	if cmd == "backfill" {
		return backfill(ctx, cfg, svc.Log, args[1:])
	}
	return serve(ctx, cfg, svc)
}

// connect waits up to 30 s for NATS: at a release's start it may not be up yet.
func connect(ctx context.Context, cfg config.Config, log *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	return bus.ConnectAs(ctx, cfg.NATSURL, "idp-hook", cfg.NATS, cfg.Bus, 30*time.Second, log)
}

func backfill(ctx context.Context, cfg config.Config, log *slog.Logger, args []string) error {
	o := reconcile.BackfillOptions{Progress: os.Stderr}
	fs := flag.NewFlagSet("backfill", flag.ContinueOnError)
	fs.IntVar(&o.Page, "page", 0, "users per list request (0: from the realm's size, 5,000 to 25,000; Keycloak's cost per request grows with the realm)")
	fs.IntVar(&o.Readers, "readers", 8, "concurrent per-user reads (identity-provider links)")
	idps := fs.String("idps", "", "identity-provider aliases, comma-separated (default: the realm's, listed)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *idps != "" {
		o.IdPs = strings.Split(*idps, ",")
	}
	if cfg.KeycloakURL == "" {
		return errors.New("backfill needs KEYCLOAK_URL and the idp-hook client's credentials")
	}
	kcCfg := cfg.Keycloak()
	// A list page of thousands of users takes seconds, more on a cold realm or a busy Keycloak (the default
	// 15 s timed out at 5,000 under load): a timeout that fails the whole run saves nothing.
	kcCfg.HTTPClient = &http.Client{Timeout: 2 * time.Minute}
	kc, err := keycloak.New(kcCfg)
	if err != nil {
		return err
	}
	nc, js, err := connect(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	if o.KV, err = reconcile.EnsureBucket(ctx, js, cfg.CheckpointBucket, cfg.Bus.Replicas); err != nil {
		return err
	}
	start := time.Now()
	st, err := reconcile.Backfill(ctx, kc, js, log, o)
	log.Info("backfill finished", "users", st.Read, "published", st.Published, "new_registrations", st.New,
		"duration", time.Since(start))
	return err
}

func serve(ctx context.Context, cfg config.Config, svc *service.Service) error {
	log := svc.Log
	nc, js, err := connect(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer nc.Drain() //nolint:errcheck // best effort at exit

	reg := ops.NewRegistry()
	mux := http.NewServeMux()
	receiver.New(receiver.Options{
		Verifier:       webhook.NewVerifier(cfg.Secrets, cfg.Tolerance),
		Publisher:      bus.NewPublisher(js),
		MaxBodyBytes:   cfg.MaxBodyBytes,
		PublishTimeout: cfg.PublishTimeout,
		RetryAfter:     cfg.RetryAfter,
		Log:            log,
		Metrics:        receiver.NewMetrics(reg),
		Realm:          cfg.KeycloakRealm,
		Tracer:         svc.Tracing,
	}).Mount(mux)
	opsSrv, err := ops.ListenOps(cfg.OpsAddr, reg, ops.Check{Name: "nats", Func: func(ctx context.Context) error {
		if !nc.IsConnected() {
			return errors.New("not connected")
		}
		_, err := js.Stream(ctx, cfg.Bus.Stream)
		return err
	}})
	if err != nil {
		return err
	}
	srv, err := ops.Listen(cfg.HTTPAddr, tracing.Handler(svc.Tracing, mux))
	if err != nil {
		return err
	}
	log.Info("idp-hook listening", "addr", srv.Addr(), "ops_addr", opsSrv.Addr(), "stream", cfg.Bus.Stream)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(ctx, cfg.ShutdownTimeout) })
	g.Go(func() error { return opsSrv.Serve(ctx, cfg.ShutdownTimeout) })
	if cfg.KeycloakURL == "" {
		log.Warn("KEYCLOAK_URL is empty: no reconciliation; events lost by the webhook stay lost")
		return g.Wait()
	}
	kc, err := keycloak.New(cfg.Keycloak())
	if err != nil {
		return err
	}
	kv, err := reconcile.EnsureBucket(ctx, js, cfg.CheckpointBucket, cfg.Bus.Replicas)
	if err != nil {
		return err
	}
	rec := reconcile.New(reconcile.Config{Overlap: cfg.ReconcileOverlap, Settle: cfg.ReconcileSettle}, kc, bus.NewPublisher(js), kv, log, reconcile.NewMetrics(reg))
	host, _ := os.Hostname()
	leader, err := lease.New(lease.Config{Bucket: cfg.LeaseBucket, Replicas: cfg.Bus.Replicas, Key: "reconciler",
		Holder: fmt.Sprintf("%s-%d", host, os.Getpid()), TTL: cfg.LeaseTTL}, js, log)
	if err != nil {
		return err
	}
	g.Go(func() error {
		leader.Lead(ctx, func(ctx context.Context) { _ = rec.Run(ctx, cfg.ReconcileInterval) })
		return nil
	})
	return g.Wait()
}

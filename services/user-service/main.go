// Command user-service turns the IdP's events into users and tenants, announces them through an
// outbox, writes tenants back to Keycloak and serves the user API.
//
//	user-service [serve]                     run (migrates first unless MIGRATE_ON_START=false)
//	user-service migrate                     apply the schema migrations and exit
//	user-service deadletters list            print the dead-lettered events
//	user-service deadletters replay [seq...] republish dead letters (all, or the given ones)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/connectedbbq/platform/pkg/bus"
	"github.com/connectedbbq/platform/pkg/keycloak"
	"github.com/connectedbbq/platform/pkg/ops"
	"github.com/connectedbbq/platform/pkg/service"
	"github.com/connectedbbq/platform/pkg/tracing"
	"github.com/connectedbbq/platform/services/user-service/internal/admin"
	"github.com/connectedbbq/platform/services/user-service/internal/api"
	"github.com/connectedbbq/platform/services/user-service/internal/config"
	"github.com/connectedbbq/platform/services/user-service/internal/consumer"
	"github.com/connectedbbq/platform/services/user-service/internal/deadletter"
	"github.com/connectedbbq/platform/services/user-service/internal/expiry"
	"github.com/connectedbbq/platform/services/user-service/internal/mail"
	"github.com/connectedbbq/platform/services/user-service/internal/relay"
	"github.com/connectedbbq/platform/services/user-service/internal/retention"
	"github.com/connectedbbq/platform/services/user-service/internal/store"
	"github.com/connectedbbq/platform/services/user-service/internal/sweep"
	"github.com/connectedbbq/platform/services/user-service/internal/writeback"
)

func main() {
	service.Main("user-service", func(ctx context.Context) error {
		return run(ctx, os.Args[1:], service.Environ(), os.Stdout)
	})
}

func run(ctx context.Context, args []string, env map[string]string, out io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	if cmd != "serve" && cmd != "migrate" && cmd != "deadletters" {
		return fmt.Errorf("unknown command %q (want serve, migrate or deadletters)", cmd)
	}
	if cmd == "migrate" {
		return migrate(ctx, env)
	}
	cfg, err := config.Load(env)
	if err != nil {
		return err
	}
	svc, err := service.Start(ctx, "user-service", service.Config{LogLevel: cfg.LogLevel}, env, os.Stderr)
	if err != nil {
		return err
	}
	defer svc.Stop()
	switch cmd {
	case "deadletters":
		return deadLetters(ctx, cfg, args, out)
	}
	return serve(ctx, cfg, svc)
}

// migrate applies the schema migrations; it needs only DATABASE_URL.
func migrate(ctx context.Context, env map[string]string) error {
	cfg, err := config.LoadMigrate(env)
	if err != nil {
		return err
	}
	svc, err := service.Start(ctx, "user-service", service.Config{LogLevel: cfg.LogLevel}, env, os.Stderr)
	if err != nil {
		return err
	}
	defer svc.Stop()
	return migrateSchema(ctx, store.Databases{Owner: cfg.MigrateDatabaseURL, Service: cfg.DatabaseURL, API: cfg.APIDatabaseURL}, svc.Log)
}

// migrateSchema migrates as the owner, then makes the service's and the API's login roles.
func migrateSchema(ctx context.Context, dbs store.Databases, log *slog.Logger) error {
	applied, err := store.Setup(ctx, dbs)
	if err != nil {
		return err
	}
	log.Info("schema up to date", "applied", applied)
	return nil
}

// connectNATS waits up to 30 s for NATS: at a release's start it may not be up yet.
func connectNATS(ctx context.Context, cfg config.Config, log *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	return bus.ConnectAs(ctx, cfg.NATSURL, "user-service", cfg.NATS, cfg.Bus, 30*time.Second, log)
}

func serve(ctx context.Context, cfg config.Config, svc *service.Service) error {
	log := svc.Log
	if cfg.MigrateOnStart {
		if err := migrateSchema(ctx, store.Databases{Owner: cfg.MigrateDatabaseURL, Service: cfg.DatabaseURL, API: cfg.APIDatabaseURL}, log); err != nil {
			return err
		}
	}
	db, err := store.Open(ctx, cfg.DatabaseURL, cfg.DBMaxConns)
	if err != nil {
		return err
	}
	defer db.Close()
	if cfg.APIDatabaseURL == "" {
		log.Warn("API_DATABASE_URL is empty: the API's reads SET LOCAL ROLE bbq_api on DATABASE_URL's connections, which RESET ROLE leaves")
	} else if err := db.OpenCallers(ctx, cfg.APIDatabaseURL, cfg.DBMaxConns); err != nil {
		return err
	}
	nc, js, err := connectNATS(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer nc.Close()

	reg := ops.NewRegistry()
	rel := relay.New(relay.Config{Batch: cfg.OutboxBatch, Interval: cfg.OutboxPoll, Tracer: svc.Tracing}, db, js, log, relay.NewMetrics(reg))
	cons := consumer.New(consumer.Config{Stream: cfg.Bus.Stream, Durable: cfg.ConsumerName, MaxDeliver: cfg.ConsumerMaxDeliver,
		BackOff: cfg.ConsumerBackOff, AckWait: cfg.ConsumerAckWait, Workers: cfg.ConsumerWorkers, BatchSize: cfg.ConsumerBatch,
		Sources: cfg.Sources(), Tracer: svc.Tracing}, js, db, log, consumer.NewMetrics(reg))
	notify := []func(){rel.Wake}
	var writer *writeback.Writer
	var orgWriter *writeback.OrgWriter
	var sweeper *sweep.Sweeper
	if cfg.KeycloakURL != "" {
		kc, err := keycloak.New(cfg.Keycloak())
		if err != nil {
			return err
		}
		writer = writeback.New(writeback.Config{Interval: cfg.WritebackInterval, Batch: cfg.WritebackBatch, Lease: cfg.WritebackLease}, db, kc, log, reg)
		notify = append(notify, writer.Wake)
		if cfg.KeycloakOrganizations {
			orgWriter = writeback.NewOrgWriter(writeback.Config{Interval: cfg.WritebackInterval, Batch: cfg.WritebackBatch, Lease: cfg.WritebackLease}, db, kc, log, reg)
			notify = append(notify, orgWriter.Wake)
		}
		if cfg.PendingSweepAfter > 0 {
			sweeper = sweep.New(sweep.Config{After: cfg.PendingSweepAfter, Realm: cfg.KeycloakRealm}, db, kc, log, reg)
		}
	} else {
		log.Warn("KEYCLOAK_URL is empty: tenants are not written back to Keycloak, pending users are not swept")
	}
	db.InvitationLimits = cfg.InvitationLimits()
	mailer, err := invitationMailer(cfg, db, log, reg)
	if err != nil {
		return err
	}
	db.Notify = func() {
		for _, f := range notify {
			f()
		}
	}

	auth := api.NewAuthenticator(api.OIDCConfig{Issuer: cfg.OIDCIssuer, DiscoveryURL: cfg.OIDCDiscoveryURL,
		Audience: cfg.OIDCAudience, Algorithms: cfg.OIDCAlgorithms}, &http.Client{Timeout: 10 * time.Second})
	mux := http.NewServeMux()
	api.New(auth, db, log).Mount(mux)
	opsSrv, err := ops.ListenOps(cfg.OpsAddr, reg,
		ops.Check{Name: "postgres", Func: db.Ping},
		ops.Check{Name: "nats", Func: func(context.Context) error {
			if !nc.IsConnected() {
				return errors.New("not connected")
			}
			return nil
		}})
	if err != nil {
		return err
	}
	srv, err := ops.Listen(cfg.HTTPAddr, tracing.Handler(svc.Tracing, mux))
	if err != nil {
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(gctx, cfg.ShutdownTimeout) })
	g.Go(func() error { return opsSrv.Serve(gctx, cfg.ShutdownTimeout) })
	if cfg.AdminToken == "" {
		log.Warn("ADMIN_TOKEN is empty: the admin API (declared tenants) is off")
	} else {
		adminMux := http.NewServeMux()
		admin.New(cfg.AdminToken, db, log).Mount(adminMux)
		adminSrv, err := ops.Listen(cfg.AdminAddr, tracing.Handler(svc.Tracing, adminMux))
		if err != nil {
			return err
		}
		log.Info("admin API listening", "addr", adminSrv.Addr())
		g.Go(func() error { return adminSrv.Serve(gctx, cfg.ShutdownTimeout) })
	}
	g.Go(func() error { return cons.Run(gctx) })
	g.Go(func() error { return rel.Run(gctx) })
	if writer != nil {
		g.Go(func() error { return writer.Run(gctx) })
	}
	if orgWriter != nil {
		g.Go(func() error { return orgWriter.Run(gctx) })
	}
	if sweeper != nil {
		g.Go(func() error { return sweeper.Run(gctx) })
	}
	if mailer != nil {
		g.Go(func() error { return mailer.Run(gctx) })
	}
	expirer := expiry.New(expiry.Config{Interval: cfg.InvitationSweepInterval}, db, log, reg)
	g.Go(func() error { return expirer.Run(gctx) })
	pruner := retention.New(retention.Config{Keep: cfg.InboxRetention(), Interval: cfg.InboxPruneInterval, Batch: cfg.InboxPruneBatch}, db, log, reg)
	g.Go(func() error { return pruner.Run(gctx) })
	log.Info("user-service listening", "addr", srv.Addr(), "ops_addr", opsSrv.Addr(), "consumer", cfg.ConsumerName)
	return g.Wait()
}

// invitationMailer is the worker that sends the queued invitation mails; nil without SMTP_ADDR (they wait).
func invitationMailer(cfg config.Config, db *store.Store, log *slog.Logger, reg prometheus.Registerer) (*mail.Worker, error) {
	if cfg.SMTPAddr == "" {
		log.Warn("SMTP_ADDR is empty: invitation mails are queued and not sent until it is set")
		return nil, nil
	}
	sender, err := mail.NewSender(cfg.Mail())
	if err != nil {
		return nil, err
	}
	w := mail.NewWorker(mail.WorkerConfig{}, db, sender.Send, log, reg)
	db.NotifyMail = w.Wake
	log.Info("invitation mails go through SMTP", "addr", cfg.SMTPAddr, "links", mail.Link(cfg.DashboardURL, "…"))
	return w, nil
}

func deadLetters(ctx context.Context, cfg config.Config, args []string, out io.Writer) error {
	nc, js, err := connectNATS(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer nc.Close()
	if len(args) == 0 || (args[0] != "list" && args[0] != "replay") {
		return errors.New("usage: deadletters list | deadletters replay [seq...]")
	}
	if args[0] == "list" {
		letters, err := deadletter.List(ctx, js, cfg.Bus.DeadLetterStream)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(out)
		for _, l := range letters {
			if err := enc.Encode(l); err != nil {
				return err
			}
		}
		return nil
	}
	var seqs []uint64
	for _, a := range args[1:] {
		n, err := strconv.ParseUint(a, 10, 64)
		if err != nil {
			return fmt.Errorf("replay: %q is not a sequence number", a)
		}
		seqs = append(seqs, n)
	}
	n, err := deadletter.Replay(ctx, js, cfg.Bus.DeadLetterStream, seqs...)
	fmt.Fprintf(out, "replayed %d dead letters\n", n)
	return err
}

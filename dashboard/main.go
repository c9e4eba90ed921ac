// Command dashboard serves the Connected BBQ dashboard: the React app, OIDC login against Keycloak, and
// the /api and /auth proxies.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/connectedbbq/platform/dashboard/internal/config"
	"github.com/connectedbbq/platform/dashboard/internal/server"
	"github.com/connectedbbq/platform/dashboard/internal/session"
	"github.com/connectedbbq/platform/dashboard/internal/ui"
	"github.com/connectedbbq/platform/pkg/ops"
	"github.com/connectedbbq/platform/pkg/service"
)

func main() {
	service.Main("dashboard", run)
}

func run(ctx context.Context) error {
	environ := service.Environ()
	cfg, err := config.Load(environ)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	svc, err := service.Start(ctx, "dashboard", service.Config{LogLevel: cfg.LogLevel}, environ, os.Stdout)
	if err != nil {
		return err
	}
	defer svc.Stop()
	log := svc.Log
	key, err := sessionKey(cfg, log)
	if err != nil {
		return err
	}
	codec, err := session.NewCodec(key, cfg.Secure())
	if err != nil {
		return fmt.Errorf("session: %w", err)
	}
	webFS, built := ui.FS()
	if !built {
		log.Warn("web app not built into this binary; serving a placeholder page (run: make web)")
	}
	srv, err := server.New(cfg, server.Deps{
		Log: log, Codec: codec, UI: webFS, Registry: prometheus.NewRegistry(),
		HTTPClient: &http.Client{Timeout: 15 * time.Second}, Tracer: svc.Tracing,
	})
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if err := srv.Discover(ctx); err != nil {
		log.Warn("keycloak discovery failed; retrying on first use", "err", err)
	}
	return serve(ctx, log, cfg, srv)
}

// serve runs the public site on DASHBOARD_ADDR and the probes and metrics on OPS_ADDR until ctx ends or
// either fails, then shuts both down gracefully.
func serve(ctx context.Context, log *slog.Logger, cfg config.Config, srv *server.Server) error {
	public, err := ops.Listen(cfg.Addr, srv.Handler()) // traced by the server (its /api proxy)
	if err != nil {
		return err
	}
	opsSrv, err := ops.Listen(cfg.OpsAddr, srv.OpsHandler())
	if err != nil {
		return err
	}
	log.Info("dashboard listening", "addr", public.Addr(), "ops_addr", opsSrv.Addr(), "public_url", cfg.PublicURL, "issuer", cfg.OIDCIssuer)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	for _, s := range []*ops.Server{public, opsSrv} {
		go func() { errc <- s.Serve(ctx, cfg.ShutdownTimeout) }()
	}
	first := <-errc
	cancel() // one stopped: stop the other
	return errors.Join(first, <-errc)
}

// sessionKey decodes SESSION_KEY; in development (no key) it makes a random one, so sessions end on restart.
func sessionKey(cfg config.Config, log *slog.Logger) ([]byte, error) {
	if cfg.SessionKey != "" {
		return cfg.SessionKeyBytes()
	}
	if cfg.Secure() {
		return nil, errors.New("SESSION_KEY is required when PUBLIC_URL is https (generate one with: openssl rand -base64 32)")
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate session key: %w", err)
	}
	log.Warn("SESSION_KEY not set: using a random key; sessions end when the dashboard restarts")
	return key, nil
}

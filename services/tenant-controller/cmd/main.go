// Command tenant-controller reconciles Tenant resources into the user service and Keycloak.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/connectedbbq/platform/pkg/envconfig"
	"github.com/connectedbbq/platform/pkg/keycloak"
	"github.com/connectedbbq/platform/pkg/ops"
	"github.com/connectedbbq/platform/pkg/service"
	"github.com/connectedbbq/platform/pkg/tracing"
	v1 "github.com/connectedbbq/platform/services/tenant-controller/api/v1alpha1"
	"github.com/connectedbbq/platform/services/tenant-controller/internal/controller"
	"github.com/connectedbbq/platform/services/tenant-controller/internal/userservice"
)

// config is read from the environment.
type config struct {
	UserServiceAdminURL  string        `env:"USER_SERVICE_ADMIN_URL"`
	AdminToken           string        `env:"ADMIN_TOKEN"`
	KeycloakURL          string        `env:"KEYCLOAK_URL"`
	KeycloakRealm        string        `env:"KEYCLOAK_REALM" envDefault:"bbq"`
	KeycloakClientID     string        `env:"KEYCLOAK_CLIENT_ID" envDefault:"tenant-controller"`
	KeycloakClientSecret string        `env:"KEYCLOAK_CLIENT_SECRET"`
	OpsAddr              string        `env:"OPS_ADDR" envDefault:":9092"` // /healthz, /readyz, /metrics
	ShutdownTimeout      time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"10s"`
	LeaderElect          bool          `env:"LEADER_ELECT" envDefault:"true"`
	LeaderElectionNS     string        `env:"POD_NAMESPACE"`
	HTTPTimeout          time.Duration `env:"HTTP_TIMEOUT" envDefault:"10s"`
	ConflictRetry        time.Duration `env:"CONFLICT_RETRY" envDefault:"1m"`
	service.Config
}

// Validate names every missing or wrong setting at once.
func (c config) Validate() error {
	var errs []error
	for name, v := range map[string]string{"USER_SERVICE_ADMIN_URL": c.UserServiceAdminURL,
		"ADMIN_TOKEN": c.AdminToken, "KEYCLOAK_URL": c.KeycloakURL, "KEYCLOAK_REALM": c.KeycloakRealm,
		"KEYCLOAK_CLIENT_ID": c.KeycloakClientID, "KEYCLOAK_CLIENT_SECRET": c.KeycloakClientSecret} {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is required", name))
		}
	}
	if c.HTTPTimeout <= 0 {
		errs = append(errs, errors.New("HTTP_TIMEOUT must be positive"))
	}
	return errors.Join(errs...)
}

func main() {
	service.Main("tenant-controller", func(ctx context.Context) error { return run(ctx, service.Environ(), os.Stderr) })
}

func run(ctx context.Context, environ map[string]string, logs io.Writer) error {
	var cfg config
	if err := envconfig.Load(&cfg, environ); err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid config: %w", err)
	}
	svc, err := service.Start(ctx, "tenant-controller", cfg.Config, environ, logs)
	if err != nil {
		return err
	}
	defer svc.Stop()
	log := svc.Log
	ctrl.SetLogger(logr.FromSlogHandler(log.Handler()))

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return fmt.Errorf("register core types: %w", err)
	}
	if err := v1.AddToScheme(scheme); err != nil {
		return fmt.Errorf("register Tenant: %w", err)
	}
	restCfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("kubernetes config: %w", err)
	}
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme: scheme,
		// No metrics or probe servers of the manager's own: ours below, on OPS_ADDR, serve both.
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		LeaderElection:          cfg.LeaderElect,
		LeaderElectionID:        "tenant-controller.platform.connectedbbq.dev",
		LeaderElectionNamespace: cfg.LeaderElectionNS,
		// The new leader starts at once when the old one shuts down cleanly.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	// Its calls to the user service's admin API and to Keycloak are traced (client spans, traceparent sent).
	hc := &http.Client{Timeout: cfg.HTTPTimeout, Transport: tracing.Transport(svc.Tracing, http.DefaultTransport)}
	kc, err := keycloak.New(keycloak.Config{BaseURL: cfg.KeycloakURL, Realm: cfg.KeycloakRealm,
		ClientID: cfg.KeycloakClientID, ClientSecret: cfg.KeycloakClientSecret, HTTPClient: hc})
	if err != nil {
		return fmt.Errorf("keycloak client: %w", err)
	}
	r := &controller.TenantReconciler{
		Client:      mgr.GetClient(),
		UserService: userservice.New(cfg.UserServiceAdminURL, cfg.AdminToken, hc),
		Groups:      kc,
		RetryAfter:  cfg.ConflictRetry,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up tenant reconciler: %w", err)
	}
	opsSrv, err := ops.ListenOps(cfg.OpsAddr, ctrlmetrics.Registry, ops.Check{Name: "cache", Func: func(ctx context.Context) error {
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return errors.New("informers not synced")
		}
		return nil
	}})
	if err != nil {
		return err
	}
	log.Info("tenant-controller starting", "leaderElection", cfg.LeaderElect, "ops_addr", opsSrv.Addr())
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return opsSrv.Serve(gctx, cfg.ShutdownTimeout) })
	g.Go(func() error {
		if err := mgr.Start(gctx); err != nil {
			return fmt.Errorf("run manager: %w", err)
		}
		return nil
	})
	return g.Wait()
}

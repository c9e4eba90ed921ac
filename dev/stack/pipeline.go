package stack

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"time"

	"github.com/connectedbbq/platform/pkg/bus"
)

// PipelineConfig is what the pipeline services need from their surroundings.
type PipelineConfig struct {
	Bins           map[string]string // from Build
	Dir            string            // logs
	NATSURL        string
	DatabaseURL    string
	OIDCIssuer     string
	OIDCDiscovery  string
	WebhookSecrets string
	AdminToken     string
	// Fixed listen addresses; free ports when empty. The Ops ones serve /healthz, /readyz and /metrics.
	HookAddr, APIAddr, AdminAddr, HookOpsAddr, UserServiceOpsAddr string
	// Extra environment per service, e.g. consumer limits in tests or Keycloak settings.
	IdPHookEnv, UserServiceEnv map[string]string
	// Network namespaces (Hosts) to run each service in; the machine's own when empty.
	IdPHookNetns, UserServiceNetns string
	// Each service's NATS user (NATS_USER, NATS_PASSWORD); anonymous when empty.
	IdPHookNATS, UserServiceNATS bus.Credentials
	// Least-privilege Postgres (docs/security.md): when set, DatabaseURL is the owner's and only migrates;
	// the service runs as ServiceDatabaseURL's role and the API as APIDatabaseURL's.
	ServiceDatabaseURL, APIDatabaseURL string
}

// Pipeline is idp-hook and user-service, running.
type Pipeline struct {
	IdPHook, UserService *Process
	IdPHookURL           string // base URL of the webhook receiver
	UserServiceURL       string // public API
	AdminURL             string // admin API
	IdPHookOpsURL        string // idp-hook's probes and metrics
	UserServiceOpsURL    string // user-service's probes and metrics
}

// StartPipeline starts idp-hook and user-service on free ports and waits until both are ready.
//
// A free port is only free when it is picked: another test, or an outgoing connection's ephemeral port, can take
// it before the service binds it. So a start that fails on "address already in use" is tried again on new ports
// (never when every address was fixed by the caller).
func StartPipeline(ctx context.Context, c PipelineConfig) (*Pipeline, error) {
	for attempt := 1; ; attempt++ {
		p, picked, err := startPipelineOnce(ctx, c)
		if err == nil || !picked || attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			return p, err
		}
	}
}

func startPipelineOnce(ctx context.Context, c PipelineConfig) (*Pipeline, bool, error) {
	hookAddr, apiAddr, adminAddr, hookOps, usOps := c.HookAddr, c.APIAddr, c.AdminAddr, c.HookOpsAddr, c.UserServiceOpsAddr
	picked := false
	for _, a := range []*string{&hookAddr, &apiAddr, &adminAddr, &hookOps, &usOps} {
		if *a != "" {
			continue
		}
		free, err := FreeAddr()
		if err != nil {
			return nil, false, err
		}
		*a, picked = free, true
	}
	hookEnv := map[string]string{"HTTP_ADDR": hookAddr, "OPS_ADDR": hookOps, "NATS_URL": c.NATSURL, "WEBHOOK_SECRETS": c.WebhookSecrets, "LOG_LEVEL": "info"}
	maps.Copy(hookEnv, natsEnv(c.IdPHookNATS))
	maps.Copy(hookEnv, c.IdPHookEnv)
	usEnv := map[string]string{"HTTP_ADDR": apiAddr, "ADMIN_ADDR": adminAddr, "OPS_ADDR": usOps, "ADMIN_TOKEN": c.AdminToken,
		"DATABASE_URL": c.DatabaseURL, "NATS_URL": c.NATSURL, "OIDC_ISSUER": c.OIDCIssuer,
		"OIDC_DISCOVERY_URL": c.OIDCDiscovery, "LOG_LEVEL": "info"}
	maps.Copy(usEnv, natsEnv(c.UserServiceNATS))
	if c.ServiceDatabaseURL != "" {
		usEnv["MIGRATE_DATABASE_URL"], usEnv["DATABASE_URL"], usEnv["API_DATABASE_URL"] = c.DatabaseURL, c.ServiceDatabaseURL, c.APIDatabaseURL
	}
	maps.Copy(usEnv, c.UserServiceEnv)
	p := &Pipeline{
		IdPHookURL: "http://" + hookAddr, UserServiceURL: "http://" + apiAddr, AdminURL: "http://" + adminAddr,
		IdPHookOpsURL: "http://" + hookOps, UserServiceOpsURL: "http://" + usOps,
		IdPHook: &Process{Name: "idp-hook", Bin: c.Bins["idp-hook"], Env: hookEnv,
			LogPath: filepath.Join(c.Dir, "idp-hook.log"), Ready: "http://" + hookOps + "/readyz", Netns: c.IdPHookNetns},
		UserService: &Process{Name: "user-service", Bin: c.Bins["user-service"], Env: usEnv,
			LogPath: filepath.Join(c.Dir, "user-service.log"), Ready: "http://" + usOps + "/readyz", Netns: c.UserServiceNetns},
	}
	if err := p.UserService.Start(ctx); err != nil {
		p.UserService.Kill()
		return nil, picked, err
	}
	if err := p.IdPHook.Start(ctx); err != nil {
		_ = p.Stop()
		return nil, picked, err
	}
	return p, picked, nil
}

// natsEnv is the environment that gives a service its NATS user.
func natsEnv(c bus.Credentials) map[string]string {
	if c.User == "" {
		return nil
	}
	return map[string]string{"NATS_USER": c.User, "NATS_PASSWORD": c.Password}
}

// Stop shuts both down gracefully.
func (p *Pipeline) Stop() error {
	e1 := p.IdPHook.Stop(20 * time.Second)
	e2 := p.UserService.Stop(20 * time.Second)
	if e1 != nil || e2 != nil {
		return fmt.Errorf("stop pipeline: %w", errors.Join(e1, e2))
	}
	return nil
}

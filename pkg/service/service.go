// Package service is how every one of our services starts: the environment read into its Config, one
// logger (service, version, err, trace id on every line), the tracer provider, and a main that stops on
// SIGINT/SIGTERM with exit status 0. The HTTP servers and the operations port are package ops.
package service

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/connectedbbq/platform/pkg/envconfig"
	"github.com/connectedbbq/platform/pkg/ops"
	"github.com/connectedbbq/platform/pkg/tracing"
)

// Config is the part of every service's configuration that the skeleton reads. Embed it in the
// service's own Config, or fill it in.
type Config struct {
	LogLevel string `env:"LOG_LEVEL" envDefault:"info"`
	// OTEL_* variables are read from the same environment by package tracing.
}

// Service is a started service's logger and tracer provider.
type Service struct {
	Name    string
	Version string
	Log     *slog.Logger
	Tracing *tracing.Provider
}

// Start builds the logger (on w, normally os.Stderr) and the tracer provider of service name.
func Start(ctx context.Context, name string, c Config, environ map[string]string, w io.Writer) (*Service, error) {
	version := Version()
	log, err := NewLogger(w, c.LogLevel, name, version)
	if err != nil {
		return nil, err
	}
	tp, err := tracing.New(ctx, tracing.Config{Service: name, Version: version, Environ: environ})
	if err != nil {
		return nil, err
	}
	if tp.Exporting {
		log.Info("exporting traces over OTLP")
	}
	return &Service{Name: name, Version: version, Log: log, Tracing: tp}, nil
}

// Load reads the skeleton's Config and starts the service: for a service with no other settings of
// its own in the shared ones.
func Load(ctx context.Context, name string, environ map[string]string, w io.Writer) (*Service, error) {
	var c Config
	if err := envconfig.Load(&c, environ); err != nil {
		return nil, err
	}
	return Start(ctx, name, c, environ, w)
}

// Stop sends the spans still buffered, waiting at most 5 s; it logs rather than fails, as it runs
// after the service has stopped.
func (s *Service) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Tracing.Shutdown(ctx); err != nil {
		s.Log.Warn("traces not flushed", "err", err)
	}
}

// Main runs run until it returns or a signal asks it to stop, and exits 1 with the error on stderr if
// it failed; a stop asked for by a signal is exit 0 (ops.Failed).
func Main(name string, run func(ctx context.Context) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	failed := ops.Failed(ctx, err)
	stop()
	if failed {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// Environ is the process environment as a map, the form Config loaders take.
func Environ() map[string]string {
	m := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// Version is the build's version: the module version, else the VCS revision, else "dev".
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return s.Value[:12]
		}
	}
	return "dev"
}

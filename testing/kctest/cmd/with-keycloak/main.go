// Command with-keycloak starts one Keycloak the way testing/kctest does, runs a command with KCTEST_URL,
// KCTEST_ADMIN_USER and KCTEST_ADMIN_PASSWORD pointing at it, and stops Keycloak afterwards. Test binaries
// that use kctest.Main then share this server (each test still gets its own realm) instead of starting one each:
//
//	go run ./kctest/cmd/with-keycloak -- go test ./keycloak/ ./kctest/
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/connectedbbq/platform/testing/kctest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := run(ctx, os.Args[1:])
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("with-keycloak", "err", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func run(ctx context.Context, args []string) (int, error) {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return 2, errors.New("usage: with-keycloak -- command [args...]")
	}
	kc, err := kctest.Start(ctx)
	if err != nil {
		return 1, fmt.Errorf("start keycloak: %w", err)
	}
	defer kc.Stop()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), kctest.EnvURL+"="+kc.URL, kctest.EnvAdminUser+"="+kc.AdminUser,
		kctest.EnvAdminPassword+"="+kc.AdminPassword)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	if err != nil {
		return 1, fmt.Errorf("run %s: %w", args[0], err)
	}
	return 0, nil
}

// Package stack runs the platform's services on this machine as real processes, built from this
// checkout: for `make run`, the end-to-end tests, the fault suite and the benchmarks.
package stack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Root finds the checkout: the nearest directory above the working directory with a go.work.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.work above the working directory: run from the checkout")
		}
		dir = parent
	}
}

// Packages of the service binaries.
var binaries = map[string]string{
	"idp-hook":     "./services/idp-hook",
	"user-service": "./services/user-service",
	"dashboard":    "./dashboard",
	// NATS as its own process, for tests that kill it; built from the module the platform already requires.
	"nats-server": "github.com/nats-io/nats-server/v2",
}

// Build compiles the named services (all when names is empty) into dir and returns their paths.
func Build(ctx context.Context, dir string, names ...string) (map[string]string, error) {
	root, err := Root()
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		for n := range binaries {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	out := map[string]string{}
	for _, n := range names {
		pkg, ok := binaries[n]
		if !ok {
			return nil, fmt.Errorf("unknown service %q", n)
		}
		bin := filepath.Join(dir, n)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build %s: %w\n%s", n, err, b)
		}
		out[n] = bin
	}
	return out, nil
}

// Process is one running service.
type Process struct {
	Name    string
	Bin     string
	Args    []string
	Env     map[string]string
	LogPath string
	// Ready is polled after start until it answers 200 (a /readyz URL), if set.
	Ready string
	// StartTimeout bounds the wait for Ready (default 60 s; Keycloak's first start on 2 busy cores takes minutes).
	StartTimeout time.Duration
	// Netns, if set, is the network namespace (a Host's) the process runs in.
	Netns string

	cmd  *exec.Cmd
	done chan error
}

// Start starts the process with exactly Env (plus PATH and HOME) and waits for Ready.
func (p *Process) Start(ctx context.Context) error {
	logf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("%s log: %w", p.Name, err)
	}
	p.cmd = exec.Command(p.Bin, p.Args...)
	if p.Netns != "" { // ip execs the binary in place: the pid, and so Kill and Stop, stay the service's
		p.cmd = exec.Command("ip", append([]string{"netns", "exec", p.Netns, p.Bin}, p.Args...)...)
	}
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range p.Env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	p.done = make(chan error, 1)
	go func() { p.done <- p.cmd.Wait(); logf.Close() }()
	if p.Ready == "" {
		return nil
	}
	return p.waitReady(ctx)
}

func (p *Process) waitReady(ctx context.Context) error {
	timeout := p.StartTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.Ready, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-p.done:
			p.done <- err
			return fmt.Errorf("%s exited during start-up (%w); log: %s\n%s", p.Name, err, p.LogPath, tail(p.LogPath, 20))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s: %w; log: %s\n%s", p.Name, p.Ready, ctx.Err(), p.LogPath, tail(p.LogPath, 20))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Kill ends the process with SIGKILL: no graceful shutdown, as in a crash.
func (p *Process) Kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
	p.cmd = nil
}

// Stop asks the process to shut down (SIGTERM) and waits up to grace before killing it.
func (p *Process) Stop(grace time.Duration) error {
	if p.cmd == nil || p.cmd.Process == nil {
		return nil
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.cmd = nil
		var exit *exec.ExitError
		if errors.As(err, &exit) && !stoppedBySignal(exit) {
			return fmt.Errorf("%s exited with %w", p.Name, err)
		}
		return nil
	case <-time.After(grace):
		p.Kill()
		return fmt.Errorf("%s did not stop within %s", p.Name, grace)
	}
}

// stoppedBySignal says whether a process ended the way a graceful stop ends: by our SIGTERM, or with the
// status a JVM (Keycloak) exits with after handling it, 128+15.
func stoppedBySignal(exit *exec.ExitError) bool {
	if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
		return true
	}
	return exit.ExitCode() == 128+int(syscall.SIGTERM)
}

// Running says whether the process is alive.
func (p *Process) Running() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case err := <-p.done:
		p.done <- err
		return false
	default:
		return true
	}
}

// Pid of the running process, 0 when stopped.
func (p *Process) Pid() int {
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Tail is the end of the process's log, n lines at most.
func (p *Process) Tail(n int) string { return tail(p.LogPath, n) }

// FreeAddr returns a loopback address with a free port.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

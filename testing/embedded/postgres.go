package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresConfig says where a local Postgres server keeps its data and listens.
type PostgresConfig struct {
	Dir  string // data directory; created and initialised when empty
	Port int    // 0 picks a free port
	// Network, if set, is a further address to listen on with its network (a test LAN's, e.g.
	// 10.213.0.1/24), whose clients are trusted like loopback ones.
	Network netip.Prefix
	// Fast turns durability off (fsync, synchronous_commit): for throwaway test servers only.
	Fast bool
	// RunAs is the unprivileged OS user to run as when this process is root (Postgres refuses
	// root); default "postgres" if it exists, else "nobody".
	RunAs string
}

// Postgres is a running local Postgres server.
type Postgres struct {
	cmd  *exec.Cmd
	dir  string
	port int
	done chan error
}

// URL is the connection string of database db as the superuser "postgres" (trust auth on loopback).
func (p *Postgres) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.port, db)
}

// URLAs is the connection string of database db as user (a login role the service's migrate made).
func (p *Postgres) URLAs(db, user, password string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", url.UserPassword(user, password), p.port, db)
}

// Port is the TCP port the server listens on.
func (p *Postgres) Port() int { return p.port }

// StartPostgres initialises (once) and starts a Postgres server from the machine's binaries.
func StartPostgres(ctx context.Context, c PostgresConfig) (*Postgres, error) {
	bin, err := postgresBinDir()
	if err != nil {
		return nil, err
	}
	cred, err := credential(c.RunAs)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("postgres data dir: %w", err)
	}
	if cred != nil {
		if err := chownTree(c.Dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(filepath.Join(c.Dir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := run(ctx, cred, filepath.Join(bin, "initdb"), "-D", c.Dir, "-U", "postgres",
			"--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"); err != nil {
			return nil, fmt.Errorf("initdb: %w", err)
		}
	}
	if c.Port == 0 {
		if c.Port, err = freePort(); err != nil {
			return nil, err
		}
	}
	hosts := "127.0.0.1"
	if c.Network.IsValid() {
		hosts += "," + c.Network.Addr().String()
		if err := trust(c.Dir, c.Network.Masked()); err != nil {
			return nil, err
		}
	}
	args := []string{"-D", c.Dir, "-p", strconv.Itoa(c.Port), "-h", hosts, "-k", c.Dir,
		"-c", "max_connections=300", "-c", "shared_buffers=256MB"}
	if c.Fast {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	logFile, err := os.OpenFile(filepath.Join(c.Dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("postgres log: %w", err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	p := &Postgres{cmd: cmd, dir: c.Dir, port: c.Port, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); logFile.Close() }()
	if err := p.waitReady(ctx); err != nil {
		_ = p.Stop()
		return nil, err
	}
	return p, nil
}

func (p *Postgres) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		conn, err := pgx.Connect(ctx, p.URL("postgres"))
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case err := <-p.done:
			log, _ := os.ReadFile(filepath.Join(p.dir, "server.log"))
			return fmt.Errorf("postgres exited (%w): %s", err, lastLines(log, 10))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("postgres on port %d not ready after 30s", p.port)
}

// Stop shuts the server down quickly (no checkpoint wait) and waits for it.
func (p *Postgres) Stop() error {
	if p.cmd.Process == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT) // "fast" shutdown
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return nil
}

// Kill ends the server and its backends with SIGKILL, as a crash of the machine would.
func (p *Postgres) Kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// trust lets clients from network in without a password, as initdb --auth=trust lets loopback ones.
func trust(dir string, network netip.Prefix) error {
	path := filepath.Join(dir, "pg_hba.conf")
	hba, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("postgres pg_hba.conf: %w", err)
	}
	line := fmt.Sprintf("host all all %s trust\n", network)
	if bytes.Contains(hba, []byte(line)) {
		return nil
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("postgres pg_hba.conf: %w", err)
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return fmt.Errorf("postgres pg_hba.conf: %w", err)
	}
	return f.Close()
}

func postgresBinDir() (string, error) {
	if path, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(path); err == nil {
			return filepath.Dir(real), nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(matches) == 0 {
		return "", errors.New("no Postgres server binaries found (apt-get install postgresql)")
	}
	return filepath.Dir(matches[len(matches)-1]), nil
}

// credential is the unprivileged user to run Postgres as, or nil when we are not root.
func credential(name string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	candidates := []string{name}
	if name == "" {
		candidates = []string{"postgres", "nobody"}
	}
	for _, n := range candidates {
		u, err := user.Lookup(n)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, fmt.Errorf("running as root and none of the users %v exists to run Postgres as", candidates)
}

func chownTree(dir string, uid, gid int) error {
	return filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
}

func run(ctx context.Context, cred *syscall.Credential, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Dir = "/"
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: %s", err, lastLines(out.Bytes(), 10))
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(b []byte, n int) string {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

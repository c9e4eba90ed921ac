// Package embedded starts the real infrastructure the platform runs on, on this machine: an
// in-process NATS JetStream server and a Postgres server from the local binaries. Tests, the
// benchmarks and `make run` use it; production uses the chart's.
package embedded

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// NATSConfig says where an embedded NATS server keeps its data and listens.
type NATSConfig struct {
	Dir  string // JetStream storage directory
	Host string // default 127.0.0.1
	Port int    // 0 picks a free port
	// Users, if any, must authenticate (BusUsers are the platform's); none: anyone may connect and do anything.
	Users []NATSUser
	// TLS, if set, is required of every client.
	TLS *tls.Config
}

// StartNATS starts a JetStream-enabled NATS server in this process.
func StartNATS(c NATSConfig) (*server.Server, error) {
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if c.Port == 0 {
		c.Port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName: "bbq-embedded",
		Host:       c.Host,
		Port:       c.Port,
		JetStream:  true,
		StoreDir:   c.Dir,
		NoSigs:     true,
		NoLog:      true,
		Users:      serverUsers(c.Users),
	}
	if c.TLS != nil {
		opts.TLSConfig, opts.TLS, opts.TLSTimeout = c.TLS, true, 2
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("new nats server: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("nats server on %s:%d not ready after 10s", c.Host, c.Port)
	}
	return ns, nil
}

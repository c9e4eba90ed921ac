// Package natstest gives each test its own real JetStream server, with the bus streams created.
package natstest

import (
	"context"
	"crypto/rand"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectedbbq/platform/pkg/bus"
	"github.com/connectedbbq/platform/testing/embedded"
)

// Bus is one test's JetStream server with the bus streams.
type Bus struct {
	Server *server.Server
	URL    string
	Conn   *nats.Conn
	JS     jetstream.JetStream
	Config bus.Config
	// Passwords of the platform's users by name, when the server requires them (NewSecured).
	Passwords map[string]string
	where     embedded.NATSConfig // for Restart
}

// Config is the bus configuration tests use.
func Config() bus.Config {
	return bus.Config{Stream: "EVENTS", Replicas: 1, DuplicateWindow: 2 * time.Minute, MaxAge: 24 * time.Hour,
		MaxBytes: -1, DeadLetterStream: "DEADLETTERS"}
}

// New starts a JetStream server for t in its own directory, creates the bus streams, and stops
// everything when t ends.
func New(t testing.TB) *Bus {
	t.Helper()
	return start(t, embedded.NATSConfig{Dir: t.TempDir()})
}

// NewSecured is New with the platform's users and their least-privilege permissions (embedded.BusUsers, the
// same as the chart's), each with a fresh random password. The Bus's own connection is the admin user's.
func NewSecured(t testing.TB) *Bus {
	t.Helper()
	pw := map[string]string{}
	for _, u := range []string{embedded.UserIdPHook, embedded.UserUserService, embedded.UserReader, embedded.UserAdmin} {
		pw[u] = rand.Text()
	}
	return start(t, embedded.NATSConfig{Dir: t.TempDir(), Users: embedded.BusUsers(embedded.DefaultBusNames(), pw)})
}

// Credentials are what a service started as user is given (NATS_USER, NATS_PASSWORD); empty on an open server.
func (b *Bus) Credentials(user string) bus.Credentials {
	if b.Passwords == nil {
		return bus.Credentials{}
	}
	return bus.Credentials{User: user, Password: b.Passwords[user]}
}

// start starts (or restarts) a server as c says, with the bus streams.
func start(t testing.TB, c embedded.NATSConfig) *Bus {
	t.Helper()
	ns, err := embedded.StartNATS(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	var pw map[string]string
	for _, u := range c.Users {
		if pw == nil {
			pw = map[string]string{}
		}
		pw[u.Name] = u.Password
	}
	admin := bus.Credentials{User: embedded.UserAdmin, Password: pw[embedded.UserAdmin]}
	if pw == nil {
		admin = bus.Credentials{}
	}
	nc, js := Connect(t, ns.ClientURL(), admin.Options()...)
	cfg := Config()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bus.Ensure(ctx, js, cfg); err != nil {
		t.Fatal(err)
	}
	c.Port = ns.Addr().(*net.TCPAddr).Port
	return &Bus{Server: ns, URL: ns.ClientURL(), Conn: nc, JS: js, Config: cfg, Passwords: pw, where: c}
}

// Connect connects to url; the connection is closed when t ends.
func Connect(t testing.TB, url string, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// Stop shuts the server down, as an outage of NATS would, keeping its data for Restart.
func (b *Bus) Stop() {
	b.Conn.Close()
	b.Server.Shutdown()
	b.Server.WaitForShutdown()
}

// Restart starts the server again on the same address and data, after Stop.
func (b *Bus) Restart(t testing.TB) {
	t.Helper()
	*b = *start(t, b.where)
}

// Messages returns every message on the bus stream whose subject matches filter, in order.
func (b *Bus) Messages(t testing.TB, filter string) []jetstream.RawStreamMsg {
	t.Helper()
	return StreamMessages(t, b.JS, b.Config.Stream, filter)
}

// StreamMessages returns the messages of stream whose subject matches filter, read without a consumer.
func StreamMessages(t testing.TB, js jetstream.JetStream, stream, filter string) []jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue // deleted or purged
		}
		if filter == "" || subjectMatches(filter, m.Subject) {
			out = append(out, *m)
		}
	}
	return out
}

func subjectMatches(filter, subject string) bool {
	return server.SubjectsCollide(filter, subject)
}

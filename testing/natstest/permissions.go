package natstest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectedbbq/platform/pkg/bus"
	"github.com/connectedbbq/platform/testing/embedded"
)

// Client is one user's connection with the refusals the server sent it.
type Client struct {
	Conn    *nats.Conn
	JS      jetstream.JetStream
	refused chan error
}

// Dial connects as cred (no stream set-up), collecting the server's refusals.
func Dial(t testing.TB, url string, cred bus.Credentials) *Client {
	t.Helper()
	c := &Client{refused: make(chan error, 64)}
	opts := append(cred.Options(), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case c.refused <- err:
		default:
		}
	}))
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connect as %s: %v", cred.Who(), err)
	}
	t.Cleanup(nc.Close)
	c.Conn = nc
	if c.JS, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	return c
}

// Publish publishes on subject and returns the refusal, or nil if the server took it.
func (c *Client) Publish(subject string) error {
	if err := c.Conn.Publish(subject, []byte("{}")); err != nil {
		return err
	}
	return c.await(subject)
}

// await waits for a permissions violation naming subject; nil when none comes within a second of a flush.
func (c *Client) await(subject string) error {
	if err := c.Conn.Flush(); err != nil {
		return err
	}
	deadline := time.After(time.Second)
	for {
		select {
		case err := <-c.refused:
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), subject) {
				return err
			}
		case <-deadline:
			return nil
		}
	}
}

// CheckPermissions shows each least-privilege refusal of the platform's users on the server at url (an
// embedded one from NewSecured, or the chart's configuration), and that each can still do its own work. It
// leaves the bus streams in place and a consumer named reader-check.
func CheckPermissions(t *testing.T, url string, cred func(user string) bus.Credentials) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	connect := func(t *testing.T, user string) (*nats.Conn, jetstream.JetStream) {
		nc, js, err := bus.ConnectAs(ctx, url, user, cred(user), Config(), 10*time.Second, log)
		if err != nil {
			t.Fatalf("%s cannot do its own work: %v", user, err)
		}
		t.Cleanup(nc.Close)
		return nc, js
	}
	t.Run("idp-hook publishes events.idp only", func(t *testing.T) {
		_, js := connect(t, embedded.UserIdPHook)
		if _, err := js.Publish(ctx, "events.idp.user.check", []byte("{}")); err != nil {
			t.Fatalf("idp-hook publishing events.idp.user.check: %v", err)
		}
		kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: embedded.DefaultBusNames().Bucket})
		if err != nil {
			t.Fatalf("idp-hook's checkpoint bucket: %v", err)
		}
		if _, err := kv.Put(ctx, "checkpoint", []byte("1")); err != nil {
			t.Fatalf("idp-hook's checkpoint: %v", err)
		}
		if _, err := kv.Get(ctx, "checkpoint"); err != nil {
			t.Fatalf("idp-hook reading its checkpoint: %v", err)
		}
		if err := kv.Delete(ctx, "checkpoint"); err != nil {
			t.Fatalf("idp-hook deleting its checkpoint: %v", err)
		}
		c := Dial(t, url, cred(embedded.UserIdPHook))
		mustRefuse(t, c, "events.users.x", "deadletter.user-service.events.idp.x")
	})
	t.Run("user-service consumes events.idp and publishes events.users only", func(t *testing.T) {
		_, js := connect(t, embedded.UserUserService)
		cons, err := js.CreateOrUpdateConsumer(ctx, Config().Stream, jetstream.ConsumerConfig{Durable: embedded.DefaultBusNames().Consumer,
			FilterSubject: "events.idp.>", AckPolicy: jetstream.AckExplicitPolicy})
		if err != nil {
			t.Fatalf("user-service's consumer: %v", err)
		}
		consumeOne(t, cons)
		if _, err := js.Publish(ctx, "events.users.user.check", []byte("{}")); err != nil {
			t.Fatalf("user-service publishing events.users.user.check: %v", err)
		}
		c := Dial(t, url, cred(embedded.UserUserService))
		mustRefuse(t, c, "events.idp.x", "deadletter.other.events.idp.x")
	})
	t.Run("the reader reads through its own consumers and publishes nothing", func(t *testing.T) {
		c := Dial(t, url, cred(embedded.UserReader))
		cons, err := c.JS.CreateOrUpdateConsumer(ctx, Config().Stream, jetstream.ConsumerConfig{Durable: "reader-check",
			AckPolicy: jetstream.AckExplicitPolicy})
		if err != nil {
			t.Fatalf("reader's own consumer: %v", err)
		}
		consumeOne(t, cons)
		n := embedded.DefaultBusNames()
		mustRefuse(t, c, "events.idp.x", "events.users.x", "deadletter.reader.x", "anything",
			"$JS.API.CONSUMER.DELETE."+n.Stream+"."+n.Consumer, "$JS.ACK."+n.Stream+"."+n.Consumer+".1.1.1.1.1.1",
			"$JS.API.STREAM.PURGE."+n.Stream, "$JS.API.STREAM.DELETE."+n.Stream)
		short, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if _, err := c.JS.Publish(short, "events.users.x", []byte("{}")); err == nil {
			t.Error("the reader published events.users.x through JetStream")
		}
	})
	t.Run("a wrong password is refused at start-up, clearly", func(t *testing.T) {
		bad := cred(embedded.UserIdPHook)
		bad.Password = "not-" + bad.Password
		start := time.Now()
		_, _, err := bus.ConnectAs(ctx, url, "idp-hook", bad, Config(), 20*time.Second, log)
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization violation") || !strings.Contains(err.Error(), "user idp-hook") {
			t.Fatalf("err = %v, want an authorization violation naming user idp-hook", err)
		}
		if strings.Contains(err.Error(), bad.Password) {
			t.Fatal("the error shows the password")
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("refused after %s: a refusal must not wait out the patience", d)
		}
	})
}

// mustRefuse fails t unless the server refuses c each subject.
func mustRefuse(t *testing.T, c *Client, subjects ...string) {
	t.Helper()
	for _, s := range subjects {
		if err := c.Publish(s); err == nil {
			t.Errorf("publishing %s was allowed", s)
		}
	}
}

// consumeOne fetches one message (the stream must hold one) and acks it.
func consumeOne(t *testing.T, cons jetstream.Consumer) {
	t.Helper()
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for m := range batch.Messages() {
		n++
		if err := m.DoubleAck(context.Background()); err != nil {
			t.Fatalf("ack: %v", err)
		}
	}
	if err := batch.Error(); err != nil || n != 1 {
		t.Fatal(fmt.Errorf("fetched %d messages, want 1: %w", n, batch.Error()))
	}
}

// ServeConfig runs a real nats-server in this process with the configuration file at path (the chart's, or
// embedded.NATSConfigFile's), on a free loopback port with a temporary JetStream store, and returns its URL.
// Variables the file references come from the environment, as in the pod.
func ServeConfig(t testing.TB, path string) string {
	t.Helper()
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		conf, _ := os.ReadFile(path)
		t.Fatalf("nats-server refuses the config: %v\n%s", err, conf)
	}
	opts.Host, opts.Port, opts.HTTPPort, opts.PidFile = "127.0.0.1", server.RANDOM_PORT, 0, ""
	opts.JetStream, opts.StoreDir, opts.NoSigs, opts.NoLog = true, t.TempDir(), true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready after 10s")
	}
	return ns.ClientURL()
}

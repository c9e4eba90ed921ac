package faults

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectedbbq/platform/dev/stack"
	"github.com/connectedbbq/platform/pkg/bus"
)

// Ports of every NATS node, each on its own host (network namespace), so they are the same on all.
const (
	natsClientPort  = 14222
	natsClusterPort = 16222
	natsMonitorPort = 18222
)

// natsCluster is three nats-server processes clustered by routes, JetStream on each, every node on its own
// host of the test LAN: a node can be killed, or cut off from its peers by the kernel.
type natsCluster struct {
	t     *testing.T
	nodes []*natsNode
	nc    *nats.Conn // the suite's own client, on every node's URL (it reconnects through the faults)
	js    jetstream.JetStream
}

type natsNode struct {
	name string
	host *stack.Host
	proc *stack.Process
}

func (n *natsNode) clientURL() string {
	return "nats://" + netip.AddrPortFrom(n.host.IP, natsClientPort).String()
}

// startNATSCluster starts one node per host, waits for them to form a cluster with a JetStream meta leader,
// and creates the bus streams with cfg (Replicas 3).
func startNATSCluster(ctx context.Context, t *testing.T, bin, dir string, hosts []*stack.Host, cfg bus.Config) *natsCluster {
	t.Helper()
	c := &natsCluster{t: t}
	for i, h := range hosts {
		name := fmt.Sprintf("nats-%d", i+1)
		var routes []string
		for _, peer := range hosts {
			if peer != h {
				routes = append(routes, "nats://"+netip.AddrPortFrom(peer.IP, natsClusterPort).String())
			}
		}
		monitor := netip.AddrPortFrom(h.IP, natsMonitorPort).String()
		c.nodes = append(c.nodes, &natsNode{name: name, host: h, proc: &stack.Process{
			Name: name, Bin: bin, Netns: h.Netns, LogPath: filepath.Join(dir, name+".log"),
			Args: []string{"-js", "-sd", filepath.Join(dir, name), "-n", name, "-a", h.IP.String(),
				"-p", fmt.Sprint(natsClientPort), "-m", fmt.Sprint(natsMonitorPort),
				"--cluster_name", "bbq", "--cluster", "nats://" + netip.AddrPortFrom(h.IP, natsClusterPort).String(),
				"--routes", strings.Join(routes, ",")},
			Ready: "http://" + monitor + "/healthz?js-enabled-only=true"}})
	}
	// Each node waits for the others' routes: start them side by side.
	errs := make(chan error, len(c.nodes))
	for _, n := range c.nodes {
		go func() { errs <- n.proc.Start(ctx) }()
	}
	for range c.nodes {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			_ = n.proc.Stop(10 * time.Second)
		}
	})
	var err error
	c.nc, err = nats.Connect(c.URLs(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.nc.Close)
	if c.js, err = jetstream.New(c.nc); err != nil {
		t.Fatal(err)
	}
	// Until the nodes elect a meta leader, JetStream answers "temporarily unavailable".
	deadline := time.Now().Add(time.Minute)
	for {
		err := c.ensure(ctx, cfg)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			for _, n := range c.nodes {
				t.Logf("--- %s\n%s", n.name, tailFile(n.proc.LogPath, 3000))
			}
			t.Fatalf("bus streams on the cluster: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return c
}

func (c *natsCluster) ensure(ctx context.Context, cfg bus.Config) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return bus.Ensure(ctx, c.js, cfg)
}

func tailFile(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// URLs is the client URL list of every node, as services are given it.
func (c *natsCluster) URLs() string {
	urls := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		urls[i] = n.clientURL()
	}
	return strings.Join(urls, ",")
}

// streamLeader finds the node leading stream, waiting (up to a minute) while it has none.
func (c *natsCluster) streamLeader(stream string) (*natsNode, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		if n, err := c.leaderOnce(ctx, stream); err == nil {
			return n, nil
		} else if ctx.Err() != nil {
			return nil, fmt.Errorf("leader of stream %s: %w", stream, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *natsCluster) leaderOnce(ctx context.Context, stream string) (*natsNode, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := c.js.Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	if info.Cluster == nil {
		return nil, errors.New("no cluster info")
	}
	for _, n := range c.nodes {
		if n.name == info.Cluster.Leader {
			return n, nil
		}
	}
	return nil, fmt.Errorf("no leader yet (%q)", info.Cluster.Leader)
}

// waitCurrent waits up to limit for every replica of stream to be current (the cluster healed) and says
// when that was, counted from since.
func (c *natsCluster) waitCurrent(stream string, since time.Time, limit time.Duration) string {
	deadline := time.Now().Add(limit)
	for {
		state, ok := c.replicasCurrent(stream)
		if ok {
			return fmt.Sprintf("stream replicas current after %s", time.Since(since).Round(time.Millisecond))
		}
		if time.Now().After(deadline) {
			return fmt.Sprintf("stream replicas not all current after %s: %s", time.Since(since).Round(time.Millisecond), state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// replicasCurrent says whether every replica of stream is current, and how they stand.
func (c *natsCluster) replicasCurrent(stream string) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := c.js.Stream(ctx, stream)
	if err != nil {
		return err.Error(), false
	}
	info, err := s.Info(ctx)
	if err != nil || info.Cluster == nil {
		return fmt.Sprintf("no cluster info (%v)", err), false
	}
	state := "leader " + info.Cluster.Leader
	ok := info.Cluster.Leader != "" && len(info.Cluster.Replicas) == len(c.nodes)-1
	for _, r := range info.Cluster.Replicas {
		state += fmt.Sprintf(", %s current %v offline %v lag %d active %s", r.Name, r.Current, r.Offline, r.Lag, r.Active)
		ok = ok && r.Current && !r.Offline
	}
	return state, ok
}

// isolate cuts node off from the other nodes (routes both ways), not from its clients, for d.
func (c *natsCluster) isolate(n *natsNode, d time.Duration) error {
	var peers []netip.Addr
	for _, o := range c.nodes {
		if o != n {
			peers = append(peers, o.host.IP)
		}
	}
	ctx := context.Background()
	if err := n.host.Isolate(ctx, peers...); err != nil {
		return err
	}
	time.Sleep(d)
	return n.host.Rejoin(ctx, peers...)
}

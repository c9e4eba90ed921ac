package stack

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
)

// Network is a small LAN of network namespaces on this machine, for tests of what crosses a network: a bridge
// in the machine's own namespace (where the test's NATS and Postgres listen) and one namespace per service host,
// each joined to the bridge by a veth pair. A Host can then lose its path to one address while keeping the
// others, and the kernel drops the packets as a real partition would: no refusal, no reset, just silence.
// It needs root, iproute2 and iptables; names are fixed per network, so one test at a time may use a name.
type Network struct {
	name   string       // the bridge's name and the namespaces' prefix
	prefix netip.Prefix // the bridge's address and the LAN, e.g. 10.213.0.1/24
	hosts  []*Host
}

// Host is one network namespace on a Network.
type Host struct {
	Netns string     // name for `ip netns exec`
	IP    netip.Addr // its address on the LAN
}

// NewNetwork creates the bridge name with address prefix (leftovers of a crashed run of the same name first
// removed). Close removes it with its hosts.
func NewNetwork(ctx context.Context, name string, prefix netip.Prefix) (*Network, error) {
	if len(name) > 10 {
		return nil, fmt.Errorf("network name %q: at most 10 characters (interface names are short)", name)
	}
	n := &Network{name: name, prefix: prefix}
	n.removeLeftovers(ctx)
	err := ipSteps(ctx,
		[]string{"link", "add", name, "type", "bridge"},
		[]string{"addr", "add", prefix.String(), "dev", name},
		[]string{"link", "set", name, "up"},
	)
	if err != nil {
		_ = n.Close(ctx)
		return nil, fmt.Errorf("network %s: %w", name, err)
	}
	return n, nil
}

// Addr is the machine's own address on the LAN: where dependencies listen for the hosts.
func (n *Network) Addr() netip.Addr { return n.prefix.Addr() }

// Prefix is the LAN, with the machine's own address.
func (n *Network) Prefix() netip.Prefix { return n.prefix }

// AddHost creates a namespace with the next free address on the LAN, joined to the bridge.
func (n *Network) AddHost(ctx context.Context) (*Host, error) {
	i := len(n.hosts) + 1
	ip := n.prefix.Addr()
	for range i {
		ip = ip.Next()
	}
	if !n.prefix.Contains(ip) {
		return nil, fmt.Errorf("network %s is full", n.name)
	}
	h := &Host{Netns: fmt.Sprintf("%s-%d", n.name, i), IP: ip}
	outer, inner := fmt.Sprintf("%s-%d", n.name, i), "eth0"
	cidr := fmt.Sprintf("%s/%d", ip, n.prefix.Bits())
	err := ipSteps(ctx,
		[]string{"netns", "add", h.Netns},
		[]string{"link", "add", outer, "type", "veth", "peer", "name", inner, "netns", h.Netns},
		[]string{"link", "set", outer, "master", n.name, "up"},
		[]string{"-n", h.Netns, "link", "set", "lo", "up"},
		[]string{"-n", h.Netns, "addr", "add", cidr, "dev", inner},
		[]string{"-n", h.Netns, "link", "set", inner, "up"},
	)
	n.hosts = append(n.hosts, h) // removed by Close even when half made
	if err != nil {
		return nil, fmt.Errorf("host %s: %w", h.Netns, err)
	}
	return h, nil
}

// Cut drops every TCP packet between the host and addr (ip:port), both ways, until Heal.
func (h *Host) Cut(ctx context.Context, addr netip.AddrPort) error {
	return h.filter(ctx, "-A", addr)
}

// Heal lets packets between the host and addr flow again.
func (h *Host) Heal(ctx context.Context, addr netip.AddrPort) error {
	return h.filter(ctx, "-D", addr)
}

// Isolate drops every TCP packet between the host and each of peers (whatever the ports: both the
// connections it opened and those opened to it), until Rejoin. A NATS node isolated from the others is
// partitioned from its cluster.
func (h *Host) Isolate(ctx context.Context, peers ...netip.Addr) error {
	return h.filterHosts(ctx, "-A", peers)
}

// Rejoin undoes Isolate.
func (h *Host) Rejoin(ctx context.Context, peers ...netip.Addr) error {
	return h.filterHosts(ctx, "-D", peers)
}

func (h *Host) filterHosts(ctx context.Context, op string, peers []netip.Addr) error {
	for _, p := range peers {
		for _, rule := range [][]string{
			{"OUTPUT", "-p", "tcp", "-d", p.String(), "-j", "DROP"},
			{"INPUT", "-p", "tcp", "-s", p.String(), "-j", "DROP"},
		} {
			args := append([]string{"netns", "exec", h.Netns, "iptables", "-w", op}, rule...)
			if err := command(ctx, "ip", args...); err != nil {
				return fmt.Errorf("host %s, path to %s: %w", h.Netns, p, err)
			}
		}
	}
	return nil
}

func (h *Host) filter(ctx context.Context, op string, addr netip.AddrPort) error {
	ip, port := addr.Addr().String(), fmt.Sprint(addr.Port())
	for _, rule := range [][]string{
		{"OUTPUT", "-p", "tcp", "-d", ip, "--dport", port, "-j", "DROP"},
		{"INPUT", "-p", "tcp", "-s", ip, "--sport", port, "-j", "DROP"},
	} {
		args := append([]string{"netns", "exec", h.Netns, "iptables", "-w", op}, rule...)
		if err := command(ctx, "ip", args...); err != nil {
			return fmt.Errorf("host %s, path to %s: %w", h.Netns, addr, err)
		}
	}
	return nil
}

// Close removes the hosts (their veth pairs go with them) and the bridge.
func (n *Network) Close(ctx context.Context) error {
	var failed []string
	for _, h := range n.hosts {
		if err := command(ctx, "ip", "netns", "del", h.Netns); err != nil {
			failed = append(failed, err.Error())
		}
	}
	n.hosts = nil
	if err := command(ctx, "ip", "link", "del", n.name); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
		failed = append(failed, err.Error())
	}
	if len(failed) > 0 {
		return fmt.Errorf("remove network %s: %s", n.name, strings.Join(failed, "; "))
	}
	return nil
}

// removeLeftovers deletes the namespaces and bridge a killed run of this network left behind.
func (n *Network) removeLeftovers(ctx context.Context) {
	out, _ := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		if ns, _, _ := strings.Cut(line, " "); strings.HasPrefix(ns, n.name+"-") {
			_ = command(ctx, "ip", "netns", "del", ns)
		}
	}
	_ = command(ctx, "ip", "link", "del", n.name)
}

func ipSteps(ctx context.Context, steps ...[]string) error {
	for _, args := range steps {
		if err := command(ctx, "ip", args...); err != nil {
			return err
		}
	}
	return nil
}

func command(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

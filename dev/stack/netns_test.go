package stack

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// A host reaches the machine's side of the LAN; a cut path drops only its own packets, and heals.
func TestNetworkCutsOnePathAndHeals(t *testing.T) {
	ctx := context.Background()
	lan, err := NewNetwork(ctx, "bbq-nstest", netip.MustParsePrefix("10.214.0.1/24"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lan.Close(ctx) }) // a second Close finds nothing left
	host, err := lan.AddHost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cut, other := serve(t, lan.Addr()), serve(t, lan.Addr())

	steps := []struct {
		name      string
		do        func(context.Context, netip.AddrPort) error
		reachable map[netip.AddrPort]bool
	}{
		{"before", nil, map[netip.AddrPort]bool{cut: true, other: true}},
		{"cut", host.Cut, map[netip.AddrPort]bool{cut: false, other: true}},
		{"healed", host.Heal, map[netip.AddrPort]bool{cut: true, other: true}},
	}
	for _, s := range steps {
		if s.do != nil {
			if err := s.do(ctx, cut); err != nil {
				t.Fatal(err)
			}
		}
		for addr, want := range s.reachable {
			if got := reachableFrom(host, addr); got != want {
				t.Errorf("%s: %s reachable from %s = %v, want %v", s.name, addr, host.IP, got, want)
			}
		}
	}

	if err := lan.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), "bbq-nstest") {
		t.Errorf("namespaces left after Close: %s", out)
	}
}

func serve(t *testing.T, ip netip.Addr) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", netip.AddrPortFrom(ip, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), ReadHeaderTimeout: time.Second}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			t.Error(err)
		}
	}()
	t.Cleanup(func() { _ = srv.Close() })
	return netip.MustParseAddrPort(ln.Addr().String())
}

// reachableFrom answers whether an HTTP request from inside host gets through within a second.
func reachableFrom(h *Host, addr netip.AddrPort) bool {
	return exec.Command("ip", "netns", "exec", h.Netns, "curl", "-s", "-m", "1", "-o", "/dev/null", "http://"+addr.String()+"/").Run() == nil
}

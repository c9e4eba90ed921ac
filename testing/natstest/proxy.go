package natstest

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Proxy is a TCP proxy to a test's server whose traffic can be held: a network that stops carrying packets
// without closing a connection, as a partition does until TCP or NATS gives up on it.
type Proxy struct {
	URL  string // nats://host:port of the proxy
	gate sync.RWMutex
}

// Proxy starts a proxy to b's server, closed when t ends.
func (b *Bus) Proxy(t testing.TB) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{URL: "nats://" + ln.Addr().String()}
	var (
		mu    sync.Mutex
		open  []net.Conn
		done  bool
		pipes sync.WaitGroup
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		done = true
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		pipes.Wait()
	})
	server := b.Server.Addr().String()
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return // closed
			}
			upstream, err := net.Dial("tcp", server)
			if err != nil {
				client.Close()
				continue
			}
			mu.Lock()
			if done {
				mu.Unlock()
				client.Close()
				upstream.Close()
				return
			}
			open = append(open, client, upstream)
			mu.Unlock()
			pipes.Go(func() { p.pipe(client, upstream) })
			pipes.Go(func() { p.pipe(upstream, client) })
		}
	}()
	return p
}

// pipe copies from src to dst, each chunk only while traffic is not held.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.gate.RLock()
			_, werr := dst.Write(buf[:n])
			p.gate.RUnlock()
			if werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Hold carries nothing either way for d, then carries what waited.
func (p *Proxy) Hold(d time.Duration) {
	p.gate.Lock()
	time.Sleep(d)
	p.gate.Unlock()
}

// JetStream connects through the proxy; the connection is closed when t ends.
func (p *Proxy) JetStream(t testing.TB) jetstream.JetStream {
	t.Helper()
	_, js := Connect(t, p.URL)
	return js
}

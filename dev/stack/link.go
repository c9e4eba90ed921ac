package stack

import (
	"fmt"
	"net"
	"sync"
)

// Link is a TCP path from one service to a dependency (NATS, Postgres) that a test can cut, like a network
// partition: while cut, connections are still accepted and kept open but no byte crosses in either direction,
// so the service sees hanging reads and writes, not a clean refusal. Bytes held during the cut flow on once it
// heals, as TCP retransmissions would deliver them. It is a stand-in for a partition between network
// namespaces, which needs root; what the service experiences is the same.
type Link struct {
	listener net.Listener
	target   string

	mu    sync.Mutex
	cut   bool
	open  *sync.Cond // broadcast when the link heals
	conns map[net.Conn]struct{}
}

// NewLink listens on a free loopback port and forwards to target (host:port).
func NewLink(target string) (*Link, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("link to %s: %w", target, err)
	}
	l := &Link{listener: ln, target: target, conns: map[net.Conn]struct{}{}}
	l.open = sync.NewCond(&l.mu)
	go l.serve()
	return l, nil
}

// Addr is the address services should dial instead of the target.
func (l *Link) Addr() string { return l.listener.Addr().String() }

// Cut stops all traffic until Heal.
func (l *Link) Cut() { l.set(true) }

// Heal lets traffic flow again, held bytes first.
func (l *Link) Heal() { l.set(false) }

func (l *Link) set(cut bool) {
	l.mu.Lock()
	l.cut = cut
	l.mu.Unlock()
	l.open.Broadcast()
}

// Close stops listening and closes every connection.
func (l *Link) Close() error {
	err := l.listener.Close()
	l.mu.Lock()
	for c := range l.conns {
		_ = c.Close()
	}
	l.cut = false
	l.mu.Unlock()
	l.open.Broadcast()
	return err
}

func (l *Link) serve() {
	for {
		in, err := l.listener.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", l.target)
		if err != nil { // the dependency is down (a crash test): the service sees the refusal as it would
			_ = in.Close()
			continue
		}
		l.track(in, out)
		go l.pipe(out, in)
		go l.pipe(in, out)
	}
}

func (l *Link) track(conns ...net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range conns {
		l.conns[c] = struct{}{}
	}
}

// pipe copies src to dst, holding each chunk while the link is cut. Either side closing closes both (once
// the link is open: a close does not cross a partition either).
func (l *Link) pipe(dst, src net.Conn) {
	defer func() {
		l.waitOpen()
		_ = dst.Close()
		_ = src.Close()
		l.mu.Lock()
		delete(l.conns, dst)
		delete(l.conns, src)
		l.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			l.waitOpen()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (l *Link) waitOpen() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.cut {
		l.open.Wait()
	}
}

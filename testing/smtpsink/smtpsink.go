// Package smtpsink is a real SMTP server that keeps every message in memory instead of delivering it, so tests
// and `make run` can read Keycloak's verification mails and follow their links.
package smtpsink

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Message is one received mail.
type Message struct {
	From     string
	To       []string
	Subject  string
	Text     string // the text/plain part (or the HTML one when there is no text), decoded
	HTML     string // the text/html part, decoded
	Raw      []byte
	Received time.Time
}

var linkRE = regexp.MustCompile(`https?://[^\s"'<>]+`)

// Links returns the URLs in the message, in order, HTML entities (&amp;) decoded.
func (m Message) Links() []string {
	body := m.Text
	if body == "" {
		body = m.HTML
	}
	found := linkRE.FindAllString(body, -1)
	out := make([]string, 0, len(found))
	for _, l := range found {
		out = append(out, strings.ReplaceAll(strings.TrimRight(l, ".,;)"), "&amp;", "&"))
	}
	return out
}

// Config of a Sink. Zero values are fine for tests.
type Config struct {
	Addr      string        // listen address; default 127.0.0.1:0 (a free port)
	Logger    *slog.Logger  // default slog.Default()
	OnMessage func(Message) // called for every message, e.g. to print verification links
}

// Sink is a running SMTP server.
type Sink struct {
	server   *smtp.Server
	listener net.Listener
	cfg      Config

	mu       sync.Mutex
	messages []Message
	changed  chan struct{} // closed and replaced on every new message
}

// Start listens and serves until Close.
func Start(cfg Config) (*Sink, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	l, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("smtpsink: listen %s: %w", cfg.Addr, err)
	}
	s := &Sink{listener: l, cfg: cfg, changed: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{sink: s}, nil }))
	srv.Domain = "localhost"
	srv.MaxMessageBytes = 10 << 20
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = slogErrorLog{cfg.Logger}
	s.server = srv
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			cfg.Logger.Error("smtpsink stopped", "err", err)
		}
	}()
	return s, nil
}

// Addr is host:port of the listener.
func (s *Sink) Addr() string { return s.listener.Addr().String() }

// Host and Port split Addr, for configuration such as Keycloak's smtpServer.
func (s *Sink) Host() string { return s.listener.Addr().(*net.TCPAddr).IP.String() }

// Port of the listener.
func (s *Sink) Port() int { return s.listener.Addr().(*net.TCPAddr).Port }

// Close stops the server.
func (s *Sink) Close() error { return s.server.Close() }

// Messages returns a copy of everything received so far.
func (s *Sink) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Wait returns the first message (received before or after the call) for which match is true.
func (s *Sink) Wait(ctx context.Context, match func(Message) bool) (Message, error) {
	for {
		s.mu.Lock()
		for _, m := range s.messages {
			if match(m) {
				s.mu.Unlock()
				return m, nil
			}
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return Message{}, fmt.Errorf("smtpsink: no matching message: %w", ctx.Err())
		}
	}
}

// WaitTo waits for a message to the address (case-insensitive) whose subject contains subject ("" = any).
func (s *Sink) WaitTo(ctx context.Context, to, subject string) (Message, error) {
	return s.Wait(ctx, func(m Message) bool {
		if subject != "" && !strings.Contains(strings.ToLower(m.Subject), strings.ToLower(subject)) {
			return false
		}
		for _, r := range m.To {
			if strings.EqualFold(r, to) {
				return true
			}
		}
		return false
	})
}

func (s *Sink) add(m Message) {
	s.mu.Lock()
	s.messages = append(s.messages, m)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	s.cfg.Logger.Info("mail received", "to", m.To, "subject", m.Subject)
	if s.cfg.OnMessage != nil {
		s.cfg.OnMessage(m)
	}
}

type session struct {
	sink *Sink
	from string
	to   []string
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("smtpsink: read data: %w", err)
	}
	m, err := Parse(raw)
	if err != nil {
		x.sink.cfg.Logger.Warn("smtpsink: unparseable message kept raw", "err", err)
	}
	m.From, m.To, m.Received = x.from, append([]string(nil), x.to...), time.Now()
	x.sink.add(m)
	return nil
}

// Parse decodes a raw RFC 5322 message: subject, and the text and HTML parts of a (multipart) body.
func Parse(raw []byte) (Message, error) {
	m := Message{Raw: raw}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return m, fmt.Errorf("parse message: %w", err)
	}
	dec := new(mime.WordDecoder)
	if subj, err := dec.DecodeHeader(msg.Header.Get("Subject")); err == nil {
		m.Subject = subj
	} else {
		m.Subject = msg.Header.Get("Subject")
	}
	err = walk(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, &m)
	if m.Text == "" {
		m.Text = m.HTML
	}
	return m, err
}

func walk(contentType, encoding string, body io.Reader, m *Message) error {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		mediaType = "text/plain"
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("multipart: %w", err)
			}
			if err := walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, m); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(encoding) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = newBase64Reader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return fmt.Errorf("read %s part: %w", mediaType, err)
	}
	switch mediaType {
	case "text/plain":
		m.Text += string(b)
	case "text/html":
		m.HTML += string(b)
	}
	return nil
}

// slogErrorLog adapts the server's error log to slog.
type slogErrorLog struct{ l *slog.Logger }

func (e slogErrorLog) Printf(format string, v ...any) {
	e.l.Warn("smtpsink: " + fmt.Sprintf(format, v...))
}
func (e slogErrorLog) Println(v ...any) { e.l.Warn("smtpsink: " + fmt.Sprint(v...)) }

func newBase64Reader(r io.Reader) io.Reader {
	// Mail wraps base64 at 76 columns; the decoder must skip the line breaks.
	return base64.NewDecoder(base64.StdEncoding, newlineStripper{r})
}

type newlineStripper struct{ r io.Reader }

func (n newlineStripper) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		j := 0
		for _, c := range p[:k] {
			if c != '\r' && c != '\n' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}

// Package mail sends invitation mails: an SMTP sender (net/smtp) and a worker that drains the mail queue the
// store fills in the transaction that creates or resends an invitation (store.SendInvitationMail).
//
// Why net/smtp and no library: the service sends one plain-text message to one relay (a dev sink, Mailpit, or
// the operator's submission server), with STARTTLS when offered and PLAIN auth when configured. That is what
// net/smtp does; a mail library would add a dependency for templating and pooling we do not need.
package mail

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"net/smtp"
	"net/url"
	"strings"
	"time"

	"github.com/connectedbbq/platform/services/user-service/internal/store"
)

// Config of the sender.
type Config struct {
	Addr               string        // SMTP server host:port
	From               string        // "Name <address>" or an address
	DashboardURL       string        // the links point to <DashboardURL>/invitations/accept?token=...
	Username, Password string        // PLAIN auth when Username is set (net/smtp allows it over TLS or to localhost only)
	Timeout            time.Duration // per message; default 30s
}

// Validate says what is wrong, naming the environment variables.
func (c Config) Validate() error {
	var errs []error
	if _, port, err := net.SplitHostPort(c.Addr); err != nil || port == "" {
		errs = append(errs, fmt.Errorf("SMTP_ADDR %q is not host:port", c.Addr))
	}
	if _, err := netmail.ParseAddress(c.From); err != nil {
		errs = append(errs, fmt.Errorf("SMTP_FROM %q is not an address (\"Name <no-reply@example.com>\"): %w", c.From, err))
	}
	if u, err := url.Parse(c.DashboardURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("DASHBOARD_URL %q must be the dashboard's absolute http(s) URL (the invitation links point to it)", c.DashboardURL))
	}
	return errors.Join(errs...)
}

// Sender sends invitation mails over SMTP.
type Sender struct {
	cfg  Config
	from *netmail.Address
	host string
}

// NewSender validates cfg and returns a Sender.
func NewSender(cfg Config) (*Sender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	from, _ := netmail.ParseAddress(cfg.From)
	host, _, _ := net.SplitHostPort(cfg.Addr)
	return &Sender{cfg: cfg, from: from, host: host}, nil
}

// Link is the accept link of a token.
func Link(dashboardURL, token string) string {
	return strings.TrimRight(dashboardURL, "/") + "/invitations/accept?token=" + url.QueryEscape(token)
}

// Send delivers m to the SMTP server.
func (s *Sender) Send(ctx context.Context, m store.InvitationMail) error {
	msg, err := Compose(s.from, s.cfg.DashboardURL, m, time.Now())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("smtp %s: %w", s.cfg.Addr, err)
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("smtp %s: %w", s.cfg.Addr, err)
	}
	defer c.Close() //nolint:errcheck // Quit below reports what matters
	if err := s.deliver(c, m.Email, msg); err != nil {
		return fmt.Errorf("smtp %s: %w", s.cfg.Addr, err)
	}
	return nil
}

func (s *Sender) deliver(c *smtp.Client, to string, msg []byte) error {
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	}
	if s.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.host)); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return fmt.Errorf("mail from: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("rcpt to: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	return c.Quit()
}

// Compose builds the message: plain text, quoted-printable, with a Message-ID that is the same for every
// attempt with one link (a copy sent twice after a crash is recognisable as the same message).
func Compose(from *netmail.Address, dashboardURL string, m store.InvitationMail, now time.Time) ([]byte, error) {
	if _, err := netmail.ParseAddress(m.Email); err != nil {
		return nil, fmt.Errorf("invitation %s: recipient: %w", m.InvitationID, err)
	}
	tenant, inviter := oneLine(m.TenantName), oneLine(m.InvitedByName)
	if inviter == "" {
		inviter = "An admin"
	}
	_, domain, _ := strings.Cut(from.Address, "@")
	sum := sha256.Sum256([]byte(m.Token))
	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", from.String())
	header("To", m.Email)
	header("Subject", mime.QEncoding.Encode("utf-8", fmt.Sprintf("You are invited to join %s on Connected BBQ", tenant)))
	header("Date", now.UTC().Format(time.RFC1123Z))
	header("Message-ID", fmt.Sprintf("<invitation.%s.%s@%s>", m.InvitationID, hex.EncodeToString(sum[:8]), domain))
	header("MIME-Version", "1.0")
	header("Content-Type", `text/plain; charset="utf-8"`)
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	body := fmt.Sprintf("%s invited you to join %q on Connected BBQ as %s.\r\n\r\nAccept the invitation:\r\n%s\r\n\r\n"+
		"The link works until %s. Sign in, or sign up, with %s: the invitation is for that address only.\r\n"+
		"If you did not expect this mail, ignore it.\r\n",
		inviter, tenant, oneLine(m.Role), Link(dashboardURL, m.Token), m.ExpiresAt.UTC().Format("2 Jan 2006 15:04 MST"), m.Email)
	if _, err := qp.Write([]byte(body)); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// oneLine keeps text that goes into a header or a sentence on one line.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\r' || r == '\n' || r < ' ' }), " ")
}

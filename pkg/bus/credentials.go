package bus

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
)

// Credentials say who a service is to NATS and how the connection is secured; all empty: an anonymous plain
// connection (a development server without authentication). The password is never logged.
type Credentials struct {
	User      string `env:"NATS_USER"`
	Password  string `env:"NATS_PASSWORD,unset"` // unset: never left in the environment
	CredsFile string `env:"NATS_CREDS"`          // a JWT + nkey creds file (decentralised auth) instead of a password
	// TLS: NATS_CA verifies the server (a tls:// URL alone uses the system's roots); cert and key are a client
	// certificate, for servers that verify clients.
	CAFile   string `env:"NATS_CA"`
	CertFile string `env:"NATS_TLS_CERT"`
	KeyFile  string `env:"NATS_TLS_KEY"`
	// InboxPrefix is where replies (PubAcks, API answers, pulled messages) come back. Each user may subscribe only
	// to its own prefix, so no client reads another's replies. Default _INBOX_<user> when a user is set.
	InboxPrefix string `env:"NATS_INBOX_PREFIX"`
}

// Validate says what is wrong with the credentials, all at once.
func (c Credentials) Validate() error {
	var errs []error
	if c.User != "" && c.Password == "" {
		errs = append(errs, errors.New("NATS_PASSWORD is required with NATS_USER"))
	}
	if c.User == "" && c.Password != "" {
		errs = append(errs, errors.New("NATS_USER is required with NATS_PASSWORD"))
	}
	if c.User != "" && c.CredsFile != "" {
		errs = append(errs, errors.New("set NATS_USER/NATS_PASSWORD or NATS_CREDS, not both"))
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		errs = append(errs, errors.New("NATS_TLS_CERT and NATS_TLS_KEY go together"))
	}
	if strings.ContainsAny(c.InboxPrefix, "*> ") || strings.HasSuffix(c.InboxPrefix, ".") {
		errs = append(errs, fmt.Errorf("NATS_INBOX_PREFIX %q must be a subject without wildcards or a trailing dot", c.InboxPrefix))
	}
	return errors.Join(errs...)
}

// Who names the identity in errors and logs: the user, the creds file, or "anonymous".
func (c Credentials) Who() string {
	switch {
	case c.User != "":
		return "user " + c.User
	case c.CredsFile != "":
		return "creds " + c.CredsFile
	}
	return "anonymous"
}

// Inbox is the reply prefix the connection uses.
func (c Credentials) Inbox() string {
	if c.InboxPrefix != "" {
		return c.InboxPrefix
	}
	if c.User != "" {
		return "_INBOX_" + c.User
	}
	return nats.InboxPrefix[:len(nats.InboxPrefix)-1]
}

// Options are the nats.go options for these credentials.
func (c Credentials) Options() []nats.Option {
	opts := []nats.Option{nats.CustomInboxPrefix(c.Inbox())}
	if c.User != "" {
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	}
	if c.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	}
	if c.CAFile != "" {
		opts = append(opts, nats.RootCAs(c.CAFile))
	}
	if c.CertFile != "" {
		opts = append(opts, nats.ClientCert(c.CertFile, c.KeyFile))
	}
	return opts
}

// refusal is the error to stop on at once: the server refused the credentials or a permission, which no retry
// mends. nil for anything else (NATS not up yet, a timeout).
func refusal(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired), errors.Is(err, nats.ErrAuthRevoked),
		errors.Is(err, nats.ErrAccountAuthExpired), errors.Is(err, nats.ErrPermissionViolation):
		return err
	}
	return nil
}

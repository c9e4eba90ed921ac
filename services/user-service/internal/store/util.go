package store

import (
	"context"
	"errors"
	"io/fs"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return sub
}

func containsFold(s, substr string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(substr))
}

// Reasons an event can never apply (PermanentReason); they label bbq_users_dead_letters_total.
const (
	ReasonInvalidEvent = "invalid_event" // the event lacks what its type needs, or is of a type we do not apply
	ReasonInvalidData  = "invalid_data"  // SQLSTATE class 22: a value Postgres cannot store (NUL, bad encoding, too long)
	ReasonConstraint   = "constraint"    // class 23: a check, foreign key, unique or not-null constraint refuses it
	ReasonSchema       = "schema"        // classes 42 and 0A: the statement does not fit the schema (or is not supported)
)

// PermanentReason says why err can never succeed however often the event is retried, or "" when it might
// (the database or the network, or an error we cannot place). Transient errors are never permanent.
func PermanentReason(err error) string {
	if err == nil || IsTransient(err) {
		return ""
	}
	if errors.Is(err, ErrInvalidEvent) {
		return ReasonInvalidEvent
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || len(pgErr.Code) != 5 {
		return ""
	}
	switch pgErr.Code[:2] {
	case "22":
		return ReasonInvalidData
	case "23":
		return ReasonConstraint
	case "42", "0A":
		return ReasonSchema
	}
	return ""
}

// IsPermanent says whether err can never succeed: see PermanentReason.
func IsPermanent(err error) bool { return PermanentReason(err) != "" }

// IsTransient says whether err is the database being unreachable, busy or failing over, as opposed to a
// problem with what was asked: the consumer waits out the first, without spending the event's attempts.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) {
		return true
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return transientCode(pgErr.Code)
	}
	var netErr interface{ Timeout() bool }
	if errors.As(err, &netErr) {
		return true
	}
	// A closed or reset connection surfaces as a plain error from the pool.
	return errors.Is(err, pgx.ErrTxClosed) || isConnClosed(err)
}

// transientCode: SQLSTATEs of a server that is away, overloaded, failing over or contended, whatever the event.
func transientCode(code string) bool {
	switch code {
	case "40001", "40P01", // serialization failure, deadlock
		"55P03", "55006", // lock not available (lock_timeout), object in use
		"25006", "25P03": // read-only transaction (a standby after failover), idle-in-transaction timeout
		return true
	}
	switch code[:min(2, len(code))] {
	case "08", // connection exception
		"53", // insufficient resources: disk full, out of memory, too many connections
		"57", // operator intervention: shutdown, crash recovery, statement_timeout, cancel
		"58": // system error: I/O error
		return true
	}
	return false
}

func isConnClosed(err error) bool {
	for _, s := range []string{"conn closed", "connection refused", "connection reset", "broken pipe", "unexpected EOF", "failed to connect"} {
		if containsFold(err.Error(), s) {
			return true
		}
	}
	return false
}

package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/connectedbbq/platform/services/user-service/internal/store"
)

// Apply errors sort into the database being away or busy (transient: retry), the event never applying
// (permanent, with a reason) and the rest (retried up to the limit).
func TestClassifiesApplyErrors(t *testing.T) {
	pg := func(code string) error {
		return fmt.Errorf("apply registered e1: %w", &pgconn.PgError{Code: code, Message: "x"})
	}
	tests := []struct {
		name      string
		err       error
		transient bool
		reason    string
	}{
		{"NUL byte in text", pg("22021"), false, store.ReasonInvalidData},
		{"value too long", pg("22001"), false, store.ReasonInvalidData},
		{"invalid input syntax", pg("22P02"), false, store.ReasonInvalidData},
		{"check constraint", pg("23514"), false, store.ReasonConstraint},
		{"not null", pg("23502"), false, store.ReasonConstraint},
		{"undefined column", pg("42703"), false, store.ReasonSchema},
		{"feature not supported", pg("0A000"), false, store.ReasonSchema},
		{"invalid event", fmt.Errorf("%w: no subject", store.ErrInvalidEvent), false, store.ReasonInvalidEvent},
		{"serialization failure", pg("40001"), true, ""},
		{"deadlock", pg("40P01"), true, ""},
		{"lock timeout", pg("55P03"), true, ""},
		{"too many connections", pg("53300"), true, ""},
		{"disk full", pg("53100"), true, ""},
		{"admin shutdown", pg("57P01"), true, ""},
		{"statement timeout", pg("57014"), true, ""},
		{"connection failure", pg("08006"), true, ""},
		{"read-only standby after failover", pg("25006"), true, ""},
		{"I/O error", pg("58030"), true, ""},
		{"deadline", fmt.Errorf("apply: %w", context.DeadlineExceeded), true, ""},
		{"connection reset", errors.New("read tcp: connection reset by peer"), true, ""},
		{"connect error", &pgconn.ConnectError{}, true, ""},
		{"internal error", pg("XX000"), false, ""},
		{"raised by a trigger", pg("P0001"), false, ""},
		{"unplaced", io.ErrShortWrite, false, ""},
		{"none", nil, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := store.IsTransient(tt.err); got != tt.transient {
				t.Errorf("IsTransient = %v, want %v", got, tt.transient)
			}
			if got := store.PermanentReason(tt.err); got != tt.reason {
				t.Errorf("PermanentReason = %q, want %q", got, tt.reason)
			}
			if store.IsPermanent(tt.err) != (tt.reason != "") {
				t.Error("IsPermanent disagrees with PermanentReason")
			}
		})
	}
}

package store

import (
	"context"

	"github.com/connectedbbq/platform/pkg/events"
)

// ApplyEventByEvent applies ds in one transaction as ApplyBatch's fallback does: one event after the other,
// each under its savepoint with its own statements. Tests compare the batched path with it.
func (s *Store) ApplyEventByEvent(ctx context.Context, ds []events.Decoded) ([]Outcome, []error, error) {
	return s.applyOrdered(ctx, ds, byUser(ds), true)
}

// The statements of the placement's lookups, for their plans.
const (
	HasDeclaredTenants = hasDeclaredTenants
	DeclaredTenantsOf  = declaredTenantsOf
)

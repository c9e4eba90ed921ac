package kctest

import (
	"context"
	"fmt"
	"net/http"
)

// UpdateRealm merges settings into a realm (PUT /admin/realms/{realm} takes a partial
// representation), e.g. {"accessTokenLifespan": 1} for a test that needs an expired token.
func (k *Keycloak) UpdateRealm(ctx context.Context, realm string, settings map[string]any) error {
	if err := k.adminDo(ctx, http.MethodPut, "/admin/realms/"+realm, settings); err != nil {
		return fmt.Errorf("update realm %s: %w", realm, err)
	}
	return nil
}

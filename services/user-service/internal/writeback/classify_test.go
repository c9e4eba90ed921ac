package writeback

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/connectedbbq/platform/pkg/keycloak"
)

func TestClassify(t *testing.T) {
	api := func(status int, path string) error {
		return fmt.Errorf("write: %w", &keycloak.APIError{Method: "PUT", Path: path, Status: status})
	}
	const user = "/auth/admin/realms/bbq/users/u1"
	for _, tc := range []struct {
		err  error
		want verdict
	}{
		{nil, done},
		{api(404, user), gone},
		{api(400, user), refused},
		{api(409, user), refused},
		{api(422, user), refused},
		{api(429, user), retry},
		{api(408, user), retry},
		{api(401, user), retry},
		{api(403, user), retry},
		{api(500, user), retry},
		{api(503, user), retry},
		{api(400, "/auth/realms/bbq/protocol/openid-connect/token"), retry}, // our credentials, not the job
		{api(404, "/auth/realms/nope/protocol/openid-connect/token"), retry},
		{errors.New("dial tcp: connection refused"), retry},
		{context.DeadlineExceeded, retry},
	} {
		if got, _ := classify(tc.err); got != tc.want {
			t.Errorf("classify(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/connectedbbq/platform/services/user-service/internal/store"
)

// nameStore records the name the API passed on (the rest of Store is not used by PATCH /me).
type nameStore struct {
	Store
	got string
}

func (s *nameStore) UpdateName(_ context.Context, c store.Caller, name string) (store.Profile, error) {
	s.got = name
	return store.Profile{UserID: c.UserID, Name: name}, nil
}

// PATCH /me refuses, with 422 and a message naming the character, a name Keycloak's person-name rule
// refuses, and passes on (trimmed) one it accepts.
func TestPatchMeName(t *testing.T) {
	for _, tc := range []struct {
		body, want string
		status     int
		detail     string
	}{
		{`{"name":"  Zoë O'Brien-Smith "}`, "Zoë O'Brien-Smith", http.StatusOK, ""},
		{`{"name":"Ada <b>"}`, "", http.StatusUnprocessableEntity, `must not contain '<'`},
		{`{"name":"Tom & Jerry"}`, "", http.StatusUnprocessableEntity, `must not contain '&'`},
		{`{"name":"Ada\u2028Bob"}`, "", http.StatusUnprocessableEntity, "line breaks"},
		{`{"name":"   "}`, "", http.StatusUnprocessableEntity, "must not be empty"},
	} {
		s := &nameStore{}
		a := &API{store: s}
		r := httptest.NewRequest(http.MethodPatch, "/v1/me", strings.NewReader(tc.body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		err := a.patchMe(w, r, store.Caller{UserID: "u1"})
		var p problem
		switch {
		case tc.status == http.StatusOK:
			if err != nil || w.Code != http.StatusOK || s.got != tc.want {
				t.Errorf("%s: err %v, status %d, stored %q; want 200 and %q", tc.body, err, w.Code, s.got, tc.want)
			}
		case !errors.As(err, &p) || p.Status != tc.status || !strings.Contains(p.Detail, tc.detail) || p.Title != "Invalid name":
			t.Errorf("%s: %v; want %d Invalid name with %q", tc.body, err, tc.status, tc.detail)
		case s.got != "":
			t.Errorf("%s: refused name reached the store", tc.body)
		}
	}
}

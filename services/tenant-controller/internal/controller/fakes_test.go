package controller_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/connectedbbq/platform/services/tenant-controller/internal/userservice"
)

// fakeUserService is a stand-in for user-service's admin API (PUT/DELETE /admin/v1/tenants/{id}), used
// until the real service can run in these tests. It enforces what the controller depends on: the bearer
// token, and that an email domain belongs to one tenant only (409 otherwise).
type fakeUserService struct {
	srv   *httptest.Server
	token string
	mu    sync.Mutex
	store map[string]userservice.Tenant
}

func newFakeUserService(t *testing.T, token string) *fakeUserService {
	f := &fakeUserService{token: token, store: map[string]userservice.Tenant{}}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /admin/v1/tenants/{id}", f.put)
	mux.HandleFunc("DELETE /admin/v1/tenants/{id}", f.delete)
	f.srv = httptest.NewServer(f.auth(mux))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeUserService) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+f.token {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (f *fakeUserService) put(w http.ResponseWriter, r *http.Request) {
	var t userservice.Tenant
	if err := json.NewDecoder(r.Body).Decode(&t); err != nil || t.DisplayName == "" {
		http.Error(w, "bad tenant", http.StatusBadRequest)
		return
	}
	id := r.PathValue("id")
	f.mu.Lock()
	defer f.mu.Unlock()
	for other, o := range f.store {
		for _, d := range o.EmailDomains {
			if other != id && contains(t.EmailDomains, d) {
				http.Error(w, "domain "+d+" belongs to tenant "+other, http.StatusConflict)
				return
			}
		}
	}
	f.store[id] = t
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeUserService) delete(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.store[r.PathValue("id")]; !ok {
		http.NotFound(w, r)
		return
	}
	delete(f.store, r.PathValue("id"))
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeUserService) get(id string) (userservice.Tenant, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.store[id]
	return t, ok
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

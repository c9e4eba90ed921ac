package controller_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

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

// fakeKeycloak is a stand-in for the few Keycloak admin REST endpoints the controller calls (client
// credentials token, group search, create and delete), used until pkg/kctest gives tests a real Keycloak.
type fakeKeycloak struct {
	srv    *httptest.Server
	secret string
	mu     sync.Mutex
	groups map[string]string // name -> id
}

func newFakeKeycloak(t *testing.T, realm, clientID, secret string) *fakeKeycloak {
	f := &fakeKeycloak{secret: secret, groups: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /auth/realms/"+realm+"/protocol/openid-connect/token", func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("grant_type") != "client_credentials" || r.FormValue("client_id") != clientID ||
			r.FormValue("client_secret") != secret {
			http.Error(w, `{"error":"unauthorized_client"}`, http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "tok-" + secret, "expires_in": 300})
	})
	admin := "/auth/admin/realms/" + realm + "/groups"
	mux.HandleFunc("GET "+admin, f.search)
	mux.HandleFunc("POST "+admin, f.create)
	mux.HandleFunc("DELETE "+admin+"/{id}", f.remove)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/admin/") && r.Header.Get("Authorization") != "Bearer tok-"+secret {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeKeycloak) search(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []map[string]string{}
	for name, id := range f.groups {
		if q := r.URL.Query().Get("search"); name == q || (r.URL.Query().Get("exact") != "true" && strings.Contains(name, q)) {
			out = append(out, map[string]string{"id": id, "name": name})
		}
	}
	_ = json.NewEncoder(w).Encode(out)
}

func (f *fakeKeycloak) create(w http.ResponseWriter, r *http.Request) {
	var g struct{ Name string }
	if err := json.NewDecoder(r.Body).Decode(&g); err != nil || g.Name == "" {
		http.Error(w, "bad group", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.groups[g.Name]; ok {
		http.Error(w, "exists", http.StatusConflict)
		return
	}
	id := uuid.NewString()
	f.groups[g.Name] = id
	w.Header().Set("Location", f.srv.URL+r.URL.Path+"/"+id)
	w.WriteHeader(http.StatusCreated)
}

func (f *fakeKeycloak) remove(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for name, id := range f.groups {
		if id == r.PathValue("id") {
			delete(f.groups, name)
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	http.NotFound(w, r)
}

func (f *fakeKeycloak) group(name string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.groups[name]
	return id, ok
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

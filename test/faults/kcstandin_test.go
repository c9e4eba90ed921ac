package faults

import (
	"cmp"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// keycloakStandIn is a STAND-IN for Keycloak's admin API, not Keycloak: the HA run streams thousands of
// sign-ups through crashes on two cores, where the real Keycloak (its own suite runs it) would be the
// bottleneck and the noise. It serves the calls the write-back and the reconciler make (token, GET user,
// the bbq extension's attribute PUT, stored events) from what the sender recorded, and it counts who
// called what: each tenant attribute written, and which idp-hook replica (by source address) reads the
// stored events, i.e. which one reconciles.
type keycloakStandIn struct {
	mu          sync.Mutex
	users       map[string]*standInUser
	events      []storedEvent
	tenantPuts  map[string]int // user id -> tenant attribute writes
	readers     []string       // source address of each stored-events read, in order
	nameUpdates int
	URL         string
}

type standInUser struct {
	Email, FirstName   string
	EmailVerified      bool
	Tenant, TenantRole string
}

type storedEvent struct {
	ID       string            `json:"id"`
	Time     int64             `json:"time"`
	Type     string            `json:"type"`
	RealmID  string            `json:"realmId"`
	ClientID string            `json:"clientId"`
	UserID   string            `json:"userId"`
	Details  map[string]string `json:"details"`
}

// startKeycloakStandIn serves on ip (a free port) until t ends.
func startKeycloakStandIn(t *testing.T, ip netip.Addr) *keycloakStandIn {
	t.Helper()
	k := &keycloakStandIn{users: map[string]*standInUser{}, tenantPuts: map[string]int{}}
	ln, err := net.Listen("tcp", netip.AddrPortFrom(ip, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /realms/bbq/protocol/openid-connect/token", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{"access_token": "stand-in", "token_type": "Bearer", "expires_in": 300})
	})
	mux.HandleFunc("GET /admin/realms/bbq/users/{id}", k.getUser)
	mux.HandleFunc("PUT /admin/realms/bbq/users/{id}", func(w http.ResponseWriter, _ *http.Request) {
		k.mu.Lock()
		k.nameUpdates++
		k.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("PUT /admin/realms/bbq/bbq/users/{id}/attributes", k.putAttributes)
	mux.HandleFunc("GET /admin/realms/bbq/events", k.storedEvents)
	mux.HandleFunc("GET /admin/realms/bbq/admin-events", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, []any{}) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	k.URL = "http://" + ln.Addr().String()
	return k
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// record stores an event (a webhook body) as Keycloak does when it commits it, before its listener sends
// the webhook, and the account as that event left it.
func (k *keycloakStandIn) record(t *testing.T, body []byte, email string) {
	var e storedEvent
	if err := json.Unmarshal(body, &e); err != nil {
		t.Error(err)
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	u := k.users[e.UserID]
	if u == nil {
		u = &standInUser{Email: email, FirstName: "Fault"}
		k.users[e.UserID] = u
	}
	switch e.Type {
	case "VERIFY_EMAIL":
		u.EmailVerified = true
	case "UPDATE_PROFILE":
		u.FirstName = "Second"
	}
	k.events = append(k.events, e)
}

func (k *keycloakStandIn) getUser(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	id := r.PathValue("id")
	u, ok := k.users[id]
	if !ok {
		http.Error(w, `{"error":"User not found"}`, http.StatusNotFound)
		return
	}
	attrs := map[string][]string{}
	if u.Tenant != "" {
		attrs["tenant"] = []string{u.Tenant}
	}
	if u.TenantRole != "" {
		attrs["tenant_role"] = []string{u.TenantRole}
	}
	writeJSON(w, map[string]any{"id": id, "username": u.Email, "email": u.Email, "emailVerified": u.EmailVerified,
		"enabled": true, "firstName": u.FirstName, "attributes": attrs})
}

// putAttributes is the provider's PUT /bbq/users/{id}/attributes: the write-back's tenant and tenant_role.
func (k *keycloakStandIn) putAttributes(w http.ResponseWriter, r *http.Request) {
	var attrs map[string][]string
	if err := json.NewDecoder(r.Body).Decode(&attrs); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	id := r.PathValue("id")
	u, ok := k.users[id]
	if !ok {
		http.Error(w, `{"error":"user_not_found"}`, http.StatusNotFound)
		return
	}
	if v, ok := attrs["tenant"]; ok {
		u.Tenant = strings.Join(v, ",")
		k.tenantPuts[id]++
	}
	if v, ok := attrs["tenant_role"]; ok {
		u.TenantRole = strings.Join(v, ",")
	}
	w.WriteHeader(http.StatusNoContent)
}

// storedEvents answers GET /events: dateFrom and dateTo (epoch ms, inclusive), type (repeated), first, max,
// direction=asc.
func (k *keycloakStandIn) storedEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, _ := strconv.ParseInt(q.Get("dateFrom"), 10, 64)
	to, err := strconv.ParseInt(q.Get("dateTo"), 10, 64)
	if err != nil {
		to = 1<<63 - 1
	}
	first, _ := strconv.Atoi(q.Get("first"))
	max, err := strconv.Atoi(q.Get("max"))
	if err != nil {
		max = 100
	}
	types := q["type"]
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	k.mu.Lock()
	k.readers = append(k.readers, host)
	var out []storedEvent
	for _, e := range k.events {
		if e.Time >= from && e.Time <= to && (len(types) == 0 || slices.Contains(types, e.Type)) {
			out = append(out, e)
		}
	}
	k.mu.Unlock()
	slices.SortStableFunc(out, func(a, b storedEvent) int { return cmp.Compare(a.Time, b.Time) })
	if q.Get("direction") != "asc" {
		slices.Reverse(out)
	}
	out = out[min(first, len(out)):]
	writeJSON(w, out[:min(max, len(out))])
}

// writes reports how many users had their tenant written, and how many writes went beyond one per user.
func (k *keycloakStandIn) writes() (users, extra int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, n := range k.tenantPuts {
		users++
		extra += n - 1
	}
	return users, extra
}

// reconcilers reports the distinct replicas that read the stored events and how often the reader changed.
func (k *keycloakStandIn) reconcilers() (replicas, changes int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	seen := map[string]bool{}
	for i, r := range k.readers {
		seen[r] = true
		if i > 0 && r != k.readers[i-1] {
			changes++
		}
	}
	return len(seen), changes
}

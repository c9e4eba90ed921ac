package keycloak

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/connectedbbq/platform/pkg/events"
	"github.com/connectedbbq/platform/pkg/keycloak"
	"github.com/connectedbbq/platform/testing/kctest"
)

// Environment of the convergence test.
const (
	envConvergenceUsers  = "BBQ_CONVERGENCE_USERS"  // how many people (default 20; make test-faults: 200)
	envConvergenceSeed   = "BBQ_CONVERGENCE_SEED"   // the seed of their action sequences (default: the clock)
	envConvergenceSettle = "BBQ_CONVERGENCE_SETTLE" // how long to wait for agreement once the webhooks are in (60s)
	declaredTenant       = "acme"
	declaredDomain       = "acme.example"
	declaredAdmin        = "boss@" + declaredDomain
)

// Issue 13's "Done when": people go through random sequences of real actions against the real Keycloak
// (sign up, verify, change name, change email and verify again, reset password, admin edits, disable and
// enable, sign in through a second realm, delete) while a proxy delivers the webhooks to idp-hook shuffled,
// duplicated and delayed, and the reconciler replays Keycloak's stored events on top. Once all is quiet, for
// every person our row equals Keycloak's user, every account that was ever confirmed has exactly one
// UserCreated, and nobody is in the declared tenant except through a verified email of its domain.
// The seed fixes each person's action sequence (the interleaving and the proxy's timing still vary):
// BBQ_CONVERGENCE_SEED=<n> replays it.
func TestUsersConvergeToKeycloakWhateverTheWebhookOrder(t *testing.T) {
	n := envInt(t, envConvergenceUsers, 20)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(envConvergenceSeed); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", envConvergenceSeed, s, err)
		}
		seed = v
	}
	reproduce := fmt.Sprintf("%s=%d %s=%d", envConvergenceSeed, seed, envConvergenceUsers, n)
	t.Logf("convergence: %d people, seed %d (reproduce: %s)", n, seed, reproduce)
	fmt.Fprintf(os.Stderr, "convergence: %d people, seed %d\n", n, seed)

	proxy := newShuffler(t, seed, 2*time.Second, 0.3)
	e := newEnv(t, options{webhook: true, reconcile: true, webhookURL: proxy.URL,
		serviceEnv: map[string]string{"PENDING_SWEEP_AFTER": "5s"}})
	proxy.deliverTo(e.p.IdPHookURL)
	e.declareTenant(declaredTenant, fmt.Sprintf(`{"displayName":"Acme","emailDomains":[%q],"admins":[%q],"suspended":false}`,
		declaredDomain, declaredAdmin))
	w := &world{e: e, admin: e.realm.Admin(t), idps: map[string]*kctest.ProviderRealm{
		"corp":    kctest.NewProviderRealm(t, e.realm, kctest.BrokerOptions{Alias: "corp", TrustEmail: true}),
		"partner": kctest.NewProviderRealm(t, e.realm, kctest.BrokerOptions{Alias: "partner", TrustEmail: false}),
	}}

	t0 := time.Now()
	people := w.driveAll(t, n, seed)
	actions := 0
	for _, p := range people {
		actions += len(p.log)
	}
	t.Logf("driver: %d actions of %d people in %s", actions, n, time.Since(t0).Round(time.Millisecond))
	if !waitFor(3*time.Minute, func() bool { return proxy.idleFor(3 * time.Second) }) {
		t.Errorf("the proxy still holds webhooks after 3 minutes")
	}
	t.Log(proxy.summary())

	settle := envDuration(t, envConvergenceSettle, time.Minute)
	t1 := time.Now()
	var diffs map[*person][]string
	waitFor(settle, func() bool {
		diffs = w.compare(t, people)
		return len(diffs) == 0
	})
	t.Logf("rows compared for %s after the webhooks were in", time.Since(t1).Round(time.Millisecond))
	// The reconciler replays on top: stored events once they are RECONCILE_SETTLE (10s) old. Wait for a pass
	// over the last actions, then compare again: the replays must change nothing.
	if !waitFor(30*time.Second, e.reconciled) {
		t.Errorf("the reconciler never completed a pass over the user events (no checkpoint in idp-hook's /metrics): " +
			"it did not replay on top; see idp-hook.log")
	}
	time.Sleep(12 * time.Second)
	if len(diffs) == 0 {
		diffs = w.compare(t, people)
	}
	w.checkCreated(t, people, diffs)
	w.report(t, people, diffs, proxy, reproduce)
}

// world is what the people act on: the test realm, its admin API, the two identity providers.
type world struct {
	e     *env
	admin *keycloak.Client
	idps  map[string]*kctest.ProviderRealm // "corp" trusts emails, "partner" does not
}

// person is one account and what the driver did to it.
type person struct {
	n           int
	rnd         *rand.Rand
	via         string // "form", or the identity provider's alias
	id          string
	email       string // Keycloak's current address
	password    string // in the test realm
	idpEmail    string // at the identity provider
	idpPassword string
	session     *kctest.Session
	hasPassword bool
	addresses   int
	passwords   int
	log         []string  // the actions, each with Keycloak's state after it
	states      []kcState // Keycloak's user after each action
	failure     string    // the driver's own failure (Keycloak refused what the model allowed)
}

// kcState is a Keycloak user as the comparison sees it.
type kcState struct {
	exists, enabled, verified bool
	email, name               string
}

func (s kcState) confirmed() bool { return s.exists && s.enabled && s.verified }

func (s kcState) String() string {
	if !s.exists {
		return "{deleted}"
	}
	return fmt.Sprintf("{%s verified=%v enabled=%v %q}", s.email, s.verified, s.enabled, s.name)
}

func (p *person) last() kcState {
	if len(p.states) == 0 {
		return kcState{}
	}
	return p.states[len(p.states)-1]
}

func (p *person) everConfirmed() bool {
	for _, s := range p.states {
		if s.confirmed() {
			return true
		}
	}
	return false
}

// confirmedWith says whether Keycloak ever had the account enabled and verified with an address matching f.
func (p *person) confirmedWith(f func(email string) bool) bool {
	for _, s := range p.states {
		if s.confirmed() && f(s.email) {
			return true
		}
	}
	return false
}

// actor is the testing.TB of one person's goroutine: a helper's Fatal ends that person's script (recorded
// as a failure of the test), not the test.
type actor struct {
	testing.TB
	p *person
}

func (a actor) Fatalf(format string, args ...any) { a.fail(fmt.Sprintf(format, args...)) }
func (a actor) Fatal(args ...any)                 { a.fail(fmt.Sprint(args...)) }
func (a actor) FailNow()                          { a.fail("FailNow") }

func (a actor) fail(msg string) {
	a.p.failure = msg
	a.Errorf("person %d (%s): driver failed: %s\n  actions: %s", a.p.n, a.p.id, msg, strings.Join(a.p.log, " → "))
	runtime.Goexit()
}

// driveAll runs every person's script, six at a time.
func (w *world) driveAll(t *testing.T, n int, seed uint64) []*person {
	people := make([]*person, n)
	sem := make(chan struct{}, 6)
	var wg sync.WaitGroup
	for i := range people {
		p := &person{n: i, rnd: rand.New(rand.NewPCG(seed, uint64(i)))}
		people[i] = p
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			w.drive(actor{TB: t, p: p}, p)
		}()
	}
	wg.Wait()
	return people
}

func (w *world) drive(a actor, p *person) {
	w.born(a, p)
	steps := 2 + p.rnd.IntN(6)
	for step := range steps {
		cur := p.last()
		if !cur.exists {
			return
		}
		var act action
		if step == 0 && !cur.verified && p.rnd.Float64() < 0.8 {
			act = actions[0] // most people verify right away
		} else {
			act = pick(p, cur)
		}
		note := act.do(w, a, p, cur)
		w.observe(a, p, act.name+note)
	}
}

// born creates the account: Keycloak's registration form, or a first sign-in through an identity provider.
func (w *world) born(a actor, p *person) {
	domain := pickOf(p.rnd, []string{"free.example", "free.example", declaredDomain, declaredDomain, "other.example"})
	p.password = w.newPassword(p)
	switch r := p.rnd.Float64(); {
	case r < 0.5:
		p.via, p.email = "form", fmt.Sprintf("u%d@%s", p.n, domain)
		p.session = w.e.realm.SignUp(a, p.email, p.password, fmt.Sprintf("Person %d", p.n))
		p.hasPassword = true // set on the form, or when the sign-up mail is followed; a refused token skips
		u, err := w.admin.FindUserByEmail(context.Background(), p.email)
		if err != nil {
			a.Fatalf("find %s after sign-up: %v", p.email, err)
		}
		p.id = u.ID
		w.observe(a, p, "sign up (form) "+p.email)
	default:
		p.via = "corp"
		if r >= 0.75 {
			p.via = "partner"
		}
		p.idpEmail, p.email = fmt.Sprintf("i%d@%s", p.n, domain), fmt.Sprintf("i%d@%s", p.n, domain)
		idp := w.idps[p.via]
		p.idpPassword = p.password
		idp.AddUser(a, p.idpEmail, "Idp", fmt.Sprintf("Person %d", p.n), p.idpPassword)
		s, tok := idp.SignIn(a, p.idpEmail, p.idpPassword)
		if tok == nil {
			p.session = s // Keycloak mailed a verification link
		}
		u, err := w.admin.FindUserByEmail(context.Background(), p.email)
		if err != nil {
			a.Fatalf("find %s after sign-in through %s: %v", p.email, p.via, err)
		}
		p.id = u.ID
		w.observe(a, p, fmt.Sprintf("first sign-in through %s %s", p.via, p.email))
	}
}

// observe reads the user from Keycloak's admin API after an action and logs both.
func (w *world) observe(a actor, p *person, what string) {
	s, err := w.read(p.id)
	if err != nil {
		a.Fatalf("read user after %s: %v", what, err)
	}
	if s.exists {
		p.email = s.email
	}
	if s.verified || p.session != nil && s.email != p.session.Email {
		p.session = nil // the sign-up mail's link is spent, moot, or (a new address) no longer valid
	}
	p.states = append(p.states, s)
	p.log = append(p.log, what+" "+s.String())
}

func (w *world) read(id string) (kcState, error) {
	u, err := w.admin.GetUser(context.Background(), id)
	if errors.Is(err, keycloak.ErrNotFound) {
		return kcState{}, nil
	}
	if err != nil {
		return kcState{}, err
	}
	return kcState{exists: true, enabled: u.Enabled, verified: u.EmailVerified, email: u.Email,
		name: strings.TrimSpace(u.FirstName + " " + u.LastName)}, nil
}

// action is one thing a person or an admin does; when says whether it applies to Keycloak's current state.
type action struct {
	name   string
	weight int
	when   func(p *person, s kcState) bool
	do     func(w *world, a actor, p *person, s kcState) string // a note for the log
}

var actions = []action{
	{"verify", 3, func(p *person, s kcState) bool { return s.enabled && !s.verified }, (*world).verify},
	{"change name", 2, selfService, (*world).changeName},
	{"admin: email", 2, always, (*world).changeEmail},
	{"reset password", 1, func(p *person, s kcState) bool { return s.enabled }, (*world).resetPassword},
	{"admin: name", 1, always, (*world).adminName},
	{"admin: emailVerified", 1, always, func(w *world, a actor, p *person, s kcState) string {
		return w.adminSet(a, p, "emailVerified", !s.verified)
	}},
	{"admin: disable", 1, func(p *person, s kcState) bool { return s.enabled }, func(w *world, a actor, p *person, s kcState) string {
		return w.adminSet(a, p, "enabled", false)
	}},
	{"admin: enable", 3, func(p *person, s kcState) bool { return !s.enabled }, func(w *world, a actor, p *person, s kcState) string {
		return w.adminSet(a, p, "enabled", true)
	}},
	{"sign in again through", 1, func(p *person, s kcState) bool { return p.via != "form" && s.enabled && s.verified }, (*world).idpAgain},
	{"admin: delete", 1, always, (*world).delete},
}

func always(*person, kcState) bool { return true }

func selfService(p *person, s kcState) bool { return s.enabled && s.verified && p.hasPassword }

// pick draws an action that applies, by weight.
func pick(p *person, s kcState) action {
	var can []action
	total := 0
	for _, a := range actions {
		if a.when(p, s) {
			can = append(can, a)
			total += a.weight
		}
	}
	r := p.rnd.IntN(total)
	for _, a := range can {
		if r -= a.weight; r < 0 {
			return a
		}
	}
	return can[len(can)-1]
}

func pickOf(r *rand.Rand, xs []string) string { return xs[r.IntN(len(xs))] }

func (w *world) newPassword(p *person) string {
	p.passwords++
	return fmt.Sprintf("Grill-%d-%d-%dxY!", p.n, p.passwords, p.rnd.IntN(1_000_000))
}

// verify follows the sign-up mail in the sign-up browser the first time, later a link the admin API sends.
func (w *world) verify(a actor, p *person, s kcState) string {
	if p.session != nil {
		p.session.FollowVerification(a)
		p.session = nil
		return " (sign-up mail)"
	}
	w.e.realm.SendVerifyEmail(a, p.id, s.email, p.password)
	return " (mail sent by the admin API)"
}

func (w *world) token(p *person) (kctest.Token, error) {
	return w.e.realm.TryPasswordToken(p.email, p.password)
}

func (w *world) changeName(a actor, p *person, s kcState) string {
	tok, err := w.token(p)
	if err != nil {
		return " skipped: " + short(err)
	}
	name := fmt.Sprintf("Self %d-%d", p.n, p.rnd.IntN(1000))
	if err := w.e.realm.UpdateAccount(tok, map[string]any{"firstName": name}); err != nil {
		a.Fatalf("change name: %v", err)
	}
	return " → " + name
}

// changeEmail changes the address through the admin API, as support would, and clears emailVerified (the
// new address is not verified yet); now and then to the declared tenant's admin address, which only one
// account can hold. People cannot change it themselves in the shipped realm: the email is the username
// (registrationEmailAsUsername) and usernames are not editable, so the account API keeps the old address.
func (w *world) changeEmail(a actor, p *person, s kcState) string {
	p.addresses++
	addr := fmt.Sprintf("u%d-%d@%s", p.n, p.addresses, pickOf(p.rnd, []string{"free.example", declaredDomain, "other.example"}))
	if p.rnd.Float64() < 0.1 {
		addr = declaredAdmin
	}
	err := w.adminUpdate(p, map[string]any{"email": addr, "emailVerified": false})
	if err != nil {
		return " → " + addr + " refused: " + short(err)
	}
	return " → " + addr
}

func (w *world) resetPassword(a actor, p *person, s kcState) string {
	pw := w.newPassword(p)
	w.e.realm.ResetPassword(a, s.email, pw)
	p.password, p.hasPassword = pw, true
	return ""
}

func (w *world) adminName(a actor, p *person, s kcState) string {
	first, last := fmt.Sprintf("Admin %d", p.n), fmt.Sprintf("Edit%d", p.rnd.IntN(1000))
	if err := w.admin.UpdateUser(context.Background(), p.id, keycloak.UserUpdate{FirstName: &first, LastName: &last}); err != nil {
		a.Fatalf("admin name: %v", err)
	}
	return " → " + first + " " + last
}

// adminSet sets one field of the user representation through the admin API.
func (w *world) adminSet(a actor, p *person, field string, v bool) string {
	if err := w.adminUpdate(p, map[string]any{field: v}); err != nil {
		a.Fatalf("admin set %s: %v", field, err)
	}
	return fmt.Sprintf(" → %v", v)
}

// adminUpdate reads the user representation, changes fields and writes it back, as the admin console does.
func (w *world) adminUpdate(p *person, fields map[string]any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	path := "/admin/realms/" + w.e.realm.Name + "/users/" + p.id
	return retryConflict(func() error {
		var rep map[string]any
		if err := w.e.realm.KC.AdminRequest(ctx, http.MethodGet, path, nil, &rep); err != nil {
			return err
		}
		maps.Copy(rep, fields)
		return w.e.realm.KC.AdminRequest(ctx, http.MethodPut, path, rep, nil)
	})
}

// retryConflict retries a write that Keycloak refused with 409 because another transaction changed the user
// at the same moment (seen on DELETE: "Duplicate resource error"); a 409 for a taken email stays refused.
func retryConflict(f func() error) error {
	var err error
	for range 5 {
		if err = f(); err == nil || !strings.Contains(err.Error(), "HTTP 409") || strings.Contains(err.Error(), "email") {
			return err
		}
		time.Sleep(300 * time.Millisecond)
	}
	return err
}

func (w *world) idpAgain(a actor, p *person, s kcState) string {
	if _, tok := w.idps[p.via].SignIn(a, p.idpEmail, p.idpPassword); tok == nil {
		return " " + p.via + " (Keycloak asks to verify the email)"
	}
	return " " + p.via
}

func (w *world) delete(a actor, p *person, s kcState) string {
	if err := retryConflict(func() error { return w.admin.DeleteUser(context.Background(), p.id) }); err != nil {
		a.Fatalf("delete: %v", err)
	}
	return ""
}

func short(err error) string {
	s := err.Error()
	return s[:min(len(s), 160)]
}

// row is a user as user-service stores it.
type row struct {
	exists                              bool
	status, email, name, tenant, role   string
	verified, enabled, hasEnabledColumn bool
}

func (w *world) rows(t *testing.T) map[string]row {
	ctx := context.Background()
	var hasEnabled bool
	if err := w.e.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.columns
		WHERE table_name = 'users' AND column_name = 'enabled')`).Scan(&hasEnabled); err != nil {
		t.Fatal(err)
	}
	enabled := "true"
	if hasEnabled {
		enabled = "enabled"
	}
	rs, err := w.e.db.Query(ctx, `SELECT id, status, email, name, email_verified, `+enabled+`, coalesce(tenant_id, ''),
		coalesce(role, '') FROM users`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	out := map[string]row{}
	for rs.Next() {
		var id string
		r := row{exists: true, hasEnabledColumn: hasEnabled}
		if err := rs.Scan(&id, &r.status, &r.email, &r.name, &r.verified, &r.enabled, &r.tenant, &r.role); err != nil {
			t.Fatal(err)
		}
		out[id] = r
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// compare reads Keycloak and our rows and returns, per person who differs, what differs.
func (w *world) compare(t *testing.T, people []*person) map[*person][]string {
	rows := w.rows(t)
	out := map[*person][]string{}
	for _, p := range people {
		if p.id == "" {
			continue
		}
		kc, err := w.read(p.id)
		if err != nil {
			t.Fatalf("read %s from Keycloak: %v", p.id, err)
		}
		if d := p.diff(kc, rows[p.id]); len(d) > 0 {
			out[p] = d
		}
	}
	return out
}

// diff is what differs between Keycloak's user and our row, and any breach of the tenant rule.
func (p *person) diff(kc kcState, r row) []string {
	var d []string
	add := func(what string, ours, theirs any) {
		d = append(d, fmt.Sprintf("%s: ours %v, Keycloak %v", what, ours, theirs))
	}
	switch {
	case !kc.exists:
		if r.exists && r.status != "deleted" {
			add("existence", r.status, "deleted")
		}
	case !r.exists:
		add("existence", "no row", "exists")
	default:
		if r.status == "deleted" {
			add("existence", "deleted", "exists")
		}
		if r.email != kc.email {
			add("email", r.email, kc.email)
		}
		if r.verified != kc.verified {
			add("email_verified", r.verified, kc.verified)
		}
		if r.name != kc.name {
			add("name", fmt.Sprintf("%q", r.name), fmt.Sprintf("%q", kc.name))
		}
		if r.enabled != kc.enabled {
			add("enabled", r.enabled, kc.enabled)
			if !r.hasEnabledColumn {
				d[len(d)-1] += " (users has no enabled column)"
			}
		}
		if want := map[bool]string{true: "active", false: "pending"}[p.everConfirmed()]; r.status != want {
			add("status", r.status, fmt.Sprintf("ever confirmed = %v", p.everConfirmed()))
		}
	}
	if r.tenant == declaredTenant && !p.confirmedWith(func(e string) bool { return strings.HasSuffix(e, "@"+declaredDomain) }) {
		d = append(d, "tenant: in "+declaredTenant+" without a verified address of "+declaredDomain)
	}
	if r.tenant == declaredTenant && r.role == "admin" && !p.confirmedWith(func(e string) bool { return e == declaredAdmin }) {
		d = append(d, "role: admin of "+declaredTenant+" without having verified "+declaredAdmin)
	}
	return d
}

// checkCreated adds the UserCreated breaches: exactly one for an account ever confirmed (at most one when it
// was deleted since: its deletion may be applied first, and deletion is final), none for the others.
func (w *world) checkCreated(t *testing.T, people []*person, diffs map[*person][]string) {
	created := w.e.count(events.UserCreated.Subject)
	for _, p := range people {
		n := created[p.id]
		ok := n == 0
		if p.everConfirmed() {
			ok = n == 1 || n == 0 && !p.last().exists
		}
		if !ok {
			diffs[p] = append(diffs[p], fmt.Sprintf("UserCreated: %d, ever confirmed = %v", n, p.everConfirmed()))
		}
	}
}

func (w *world) report(t *testing.T, people []*person, diffs map[*person][]string, proxy *shuffler, reproduce string) {
	for _, r := range proxy.rejection {
		t.Logf("idp-hook refused a webhook for good: %s", r)
	}
	if len(diffs) == 0 {
		return
	}
	kinds := map[string]int{}
	var failing []*person
	for p, d := range diffs {
		failing = append(failing, p)
		for _, x := range d {
			kinds[strings.SplitN(x, ":", 2)[0]]++
		}
	}
	sort.Slice(failing, func(i, j int) bool { return failing[i].n < failing[j].n })
	var b strings.Builder
	for i, p := range failing {
		if i == 40 {
			fmt.Fprintf(&b, "... and %d more\n", len(failing)-i)
			break
		}
		fmt.Fprintf(&b, "person %d (%s, %s):\n  actions: %s\n  differs: %s\n", p.n, p.via, p.id,
			strings.Join(p.log, "\n           → "), strings.Join(diffs[p], "; "))
		if i < 10 {
			fmt.Fprintf(&b, "  Keycloak stored: %s\n", strings.Join(w.history(p), "\n                   "))
		}
	}
	var summary []string
	for k, v := range kinds {
		summary = append(summary, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(summary)
	t.Errorf("%d of %d people do not converge (%s); reproduce with %s\n%s", len(failing), len(people),
		strings.Join(summary, ", "), reproduce, b.String())
}

// history is what Keycloak stored about the person (user events and admin events, oldest first), for the
// failure report: it shows which change Keycloak made and who made it.
func (w *world) history(p *person) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type line struct {
		at   int64
		text string
	}
	var lines []line
	evs, err := w.admin.Events(ctx, keycloak.EventQuery{UserID: p.id, Max: 500, Ascending: true})
	if err != nil {
		return []string{"user events: " + short(err)}
	}
	for _, e := range evs {
		lines = append(lines, line{e.Time, fmt.Sprintf("%s %v", e.Type, e.Details)})
	}
	aevs, err := w.admin.AdminEvents(ctx, keycloak.AdminEventQuery{ResourcePath: "users/" + p.id + "*", Max: 500, Ascending: true})
	if err != nil {
		return []string{"admin events: " + short(err)}
	}
	for _, e := range aevs {
		var rep struct {
			Email, FirstName, LastName string
			EmailVerified, Enabled     *bool
		}
		_ = json.Unmarshal([]byte(e.Representation), &rep)
		lines = append(lines, line{e.Time, fmt.Sprintf("admin %s %s by %s: email=%q first=%q last=%q verified=%v enabled=%v",
			e.OperationType, strings.TrimPrefix(e.ResourcePath, "users/"+p.id), e.AuthDetails.ClientID, rep.Email,
			rep.FirstName, rep.LastName, deref(rep.EmailVerified), deref(rep.Enabled))})
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].at < lines[j].at })
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = time.UnixMilli(l.at).UTC().Format("15:04:05.000") + " " + l.text
	}
	return out
}

func deref(b *bool) string {
	if b == nil {
		return "-"
	}
	return strconv.FormatBool(*b)
}

// reconciled says whether idp-hook's reconciler saved a checkpoint of the realm's user events, i.e.
// completed a pass.
func (e *env) reconciled() bool {
	resp, err := http.Get(e.p.IdPHookOpsURL + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(line, `bbq_idphook_reconcile_checkpoint_seconds{checkpoint="events.`+e.realm.Name+`"}`) &&
			!strings.HasSuffix(line, " 0") {
			return true
		}
	}
	return false
}

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 {
		t.Fatalf("%s=%q: want a positive number", name, s)
	}
	return v
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, s, err)
	}
	return v
}

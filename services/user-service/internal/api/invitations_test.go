package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/connectedbbq/platform/pkg/events"
	"github.com/connectedbbq/platform/services/user-service/internal/api"
	"github.com/connectedbbq/platform/services/user-service/internal/domain"
	"github.com/connectedbbq/platform/services/user-service/internal/expiry"
	"github.com/connectedbbq/platform/services/user-service/internal/mail"
	"github.com/connectedbbq/platform/services/user-service/internal/store"
	"github.com/connectedbbq/platform/testing/smtpsink"
)

const dashboardURL = "http://dashboard.test"

// mailer is the invitation mail worker of an env, sending to a real SMTP sink.
type mailer struct {
	sink   *smtpsink.Sink
	worker *mail.Worker
}

func newMailer(t *testing.T, e *env) *mailer {
	t.Helper()
	sink, err := smtpsink.Start(smtpsink.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Close() })
	sender, err := mail.NewSender(mail.Config{Addr: sink.Addr(), From: "Connected BBQ <no-reply@bbq.test>", DashboardURL: dashboardURL})
	if err != nil {
		t.Fatal(err)
	}
	return &mailer{sink: sink, worker: mail.NewWorker(mail.WorkerConfig{Poll: time.Hour}, e.s, sender.Send, slog.New(slog.DiscardHandler), prometheus.NewRegistry())}
}

// tokenTo waits for the newest mail to addr and returns the link's token.
func (m *mailer) tokenTo(t *testing.T, addr string, nth int) (string, smtpsink.Message) {
	t.Helper()
	// The worker's Drain returns after the SMTP server took the mail; a short wait covers the sink's bookkeeping.
	deadline := time.Now().Add(5 * time.Second)
	for len(m.to(addr)) < nth && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	got := m.to(addr)
	if len(got) < nth {
		t.Fatalf("%d mails to %s, want at least %d", len(got), addr, nth)
	}
	msg := got[nth-1]
	for _, l := range msg.Links() {
		if u, err := url.Parse(l); err == nil && strings.HasPrefix(l, dashboardURL+"/invitations/accept?") {
			return u.Query().Get("token"), msg
		}
	}
	t.Fatalf("no accept link in %q", msg.Text)
	return "", msg
}

func (m *mailer) to(addr string) []smtpsink.Message {
	var out []smtpsink.Message
	for _, msg := range m.sink.Messages() {
		if len(msg.To) == 1 && msg.To[0] == addr {
			out = append(out, msg)
		}
	}
	return out
}

// do sends a request; header is X-Tenant-ID when not empty. It returns the status, the JSON body and the headers.
func (e *env) do(method, path, token, tenantHeader, body string) (int, map[string]any, http.Header) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if tenantHeader != "" {
		req.Header.Set(api.TenantHeader, tenantHeader)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out, resp.Header
}

// invite has ann invite addr into the shared tenant and returns the invitation's id.
func (e *env) invite(addr, role string) string {
	e.t.Helper()
	status, p := e.call("POST", "/v1/tenant/invitations", e.token("ann", "shared"), "", fmt.Sprintf(`{"email":%q,"role":%q}`, addr, role))
	if status != 201 {
		e.t.Fatalf("invite %s: %d %v", addr, status, p)
	}
	return p["id"].(string)
}

// outboxEvent returns the data of the only outbox event of kind k about invitation or user id.
func (e *env) outboxData(k events.Kind) []map[string]any {
	e.t.Helper()
	rows, err := e.db.Query(context.Background(), `SELECT event FROM outbox WHERE subject = $1 ORDER BY seq`, k.Subject)
	if err != nil {
		e.t.Fatal(err)
	}
	bodies, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		e.t.Fatal(err)
	}
	var out []map[string]any
	for _, b := range bodies {
		var ev struct {
			Subject string         `json:"subject"`
			Data    map[string]any `json:"data"`
		}
		if err := json.Unmarshal(b, &ev); err != nil {
			e.t.Fatal(err)
		}
		ev.Data["_subject"] = ev.Subject
		out = append(out, ev.Data)
	}
	return out
}

var (
	created, accepted = events.InvitationCreated.Subject, events.InvitationAccepted.Subject
	revoked, expired  = events.InvitationRevoked.Subject, events.InvitationExpired.Subject
)

// The whole way: ann invites eve, the mail reaches the SMTP sink, eve (a person of her own) follows the link
// and joins the shared tenant as a member, announced once each.
func TestInvitationHappyPath(t *testing.T) {
	t.Parallel()
	e, _ := sharedTenant(t)
	m := newMailer(t, e)
	before := e.outbox()
	status, inv := e.call("POST", "/v1/tenant/invitations", e.token("ann", "shared"), "", `{"email":" Eve@Elsewhere.Example ","role":"member"}`)
	if status != 201 || inv["email"] != "eve@elsewhere.example" || inv["status"] != "pending" || inv["invitedBy"] != "ann" ||
		inv["invitedByName"] != "ann" || inv["role"] != "member" {
		t.Fatalf("invite: %d %v", status, inv)
	}
	if got := e.announced(before); !maps.Equal(got, map[string]int{created: 1}) {
		t.Errorf("invite announced %v", got)
	}
	if n := m.worker.Drain(context.Background()); n != 1 {
		t.Fatalf("sent %d mails, want 1", n)
	}
	if n := m.worker.Drain(context.Background()); n != 0 {
		t.Errorf("a second round sent %d more", n)
	}
	token, msg := m.tokenTo(t, "eve@elsewhere.example", 1)
	if !strings.Contains(msg.Subject, "Shared") || !strings.Contains(msg.Text, `ann invited you to join "Shared"`) || !strings.Contains(msg.Text, "as member") {
		t.Errorf("mail: %q / %q", msg.Subject, msg.Text)
	}
	var hash []byte
	if err := e.db.QueryRow(context.Background(), `SELECT token_hash FROM invitations WHERE id = $1`, inv["id"]).Scan(&hash); err != nil || string(hash) != string(domain.HashInvitationToken(token)) {
		t.Errorf("the mailed token is not the stored invitation's (%v)", err)
	}
	var left int
	if err := e.db.QueryRow(context.Background(), `SELECT count(*) FROM invitation_mails`).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d queued mails after sending (%v): the token must not stay stored", left, err)
	}

	eves := e.activate("eve", "eve@elsewhere.example")
	eve := e.token("eve", "") // a token from before the tenant claim: accepting needs none
	status, p := e.call("GET", "/v1/invitations/"+token, eve, "", "")
	if status != 200 || p["tenantId"] != "shared" || p["tenantName"] != "Shared" || p["email"] != "eve@elsewhere.example" || p["status"] != "pending" ||
		p["invitedByName"] != "ann" || p["role"] != "member" {
		t.Errorf("preview: %d %v", status, p)
	}
	before = e.outbox()
	status, p = e.call("POST", "/v1/invitations/"+token+"/accept", eve, "", "")
	if status != 200 || p["id"] != "shared" || p["role"] != "member" || p["default"] != false {
		t.Errorf("accept: %d %v", status, p)
	}
	if got := e.announced(before); !maps.Equal(got, map[string]int{accepted: 1, events.TenantMemberAdded.Subject: 1}) {
		t.Errorf("accept announced %v", got)
	}
	added := e.outboxData(events.TenantMemberAdded)
	last := added[len(added)-1]
	if last["userId"] != "eve" || last["how"] != "MEMBERSHIP_SOURCE_INVITATION" || last["actorUserId"] != "ann" || last["_subject"] != "shared" || last["role"] != "TENANT_ROLE_MEMBER" {
		t.Errorf("TenantMemberAdded: %v", last)
	}
	if acc := e.outboxData(events.InvitationAccepted); len(acc) != 1 || acc[0]["acceptedByUserId"] != "eve" || acc[0]["_subject"] != "shared" {
		t.Errorf("InvitationAccepted: %v", acc)
	}
	// Eve is a member now, with her personal tenant still her default.
	if status, page := e.call("GET", "/v1/tenant/members", e.token("eve", eves), "shared", ""); status != 200 || !strings.Contains(fmt.Sprint(ids(page, "members", "userId")), "eve") {
		t.Errorf("members as eve: %d %v", status, page)
	}
	status, list := e.call("GET", "/v1/tenant/invitations?status=accepted", e.token("ann", "shared"), "", "")
	items, _ := list["invitations"].([]any)
	if status != 200 || len(items) != 1 || items[0].(map[string]any)["acceptedBy"] != "eve" || items[0].(map[string]any)["acceptedAt"] == nil {
		t.Errorf("accepted list: %d %v", status, list)
	}
	if status, list := e.call("GET", "/v1/tenant/invitations?status=pending", e.token("ann", "shared"), "", ""); status != 200 || len(list["invitations"].([]any)) != 0 {
		t.Errorf("pending list: %d %v", status, list)
	}
}

// Accepting (or revoking) while the invitation's mail is being sent waits for the send and then succeeds;
// it never deadlocks with the sender, which holds the mail's row during SMTP and then writes the invitation.
// (It did: Postgres broke the cycle after its deadlock_timeout, 1 s, aborting one of the two.)
func TestAcceptingWhileTheMailIsBeingSent(t *testing.T) {
	t.Parallel()
	e, _ := sharedTenant(t)
	id := e.invite("eve@elsewhere.example", "member")
	e.activate("eve", "eve@elsewhere.example")
	tokens, release := make(chan string, 1), make(chan struct{})
	slowSMTP := func(_ context.Context, m store.InvitationMail) error {
		tokens <- m.Token
		<-release
		return nil
	}
	w := mail.NewWorker(mail.WorkerConfig{Poll: time.Hour}, e.s, slowSMTP, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	sent := make(chan int, 1)
	go func() { sent <- w.Drain(context.Background()) }()
	token := <-tokens
	accepted := make(chan int, 1)
	go func() {
		status, _ := e.call("POST", "/v1/invitations/"+token+"/accept", e.token("eve", ""), "", "")
		accepted <- status
	}()
	time.Sleep(200 * time.Millisecond) // the accept is at the database now
	start := time.Now()
	close(release)
	if n := <-sent; n != 1 {
		t.Errorf("the sender sent %d, want 1", n)
	}
	if status := <-accepted; status != 200 {
		t.Errorf("accept during the send: %d, want 200", status)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("both done %s after the send ended: a lock wait (deadlock_timeout is 1 s)", d)
	}
	var left, sentCount int
	if err := e.db.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM invitation_mails), sent_count FROM invitations WHERE id = $1`, id).
		Scan(&left, &sentCount); err != nil || left != 0 || sentCount != 1 {
		t.Errorf("after both: %d queued mails, sent_count %d (%v)", left, sentCount, err)
	}
}

// A mail the SMTP server does not take stays queued and goes out once it does: never lost.
func TestInvitationMailRetried(t *testing.T) {
	t.Parallel()
	e, _ := sharedTenant(t)
	m := newMailer(t, e)
	e.invite("gil@elsewhere.example", "member")
	down, err := mail.NewSender(mail.Config{Addr: "127.0.0.1:1", From: "no-reply@bbq.test", DashboardURL: dashboardURL, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	failing := mail.NewWorker(mail.WorkerConfig{Poll: time.Hour}, e.s, down.Send, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if n := failing.Drain(context.Background()); n != 0 {
		t.Fatalf("sent %d through a closed port", n)
	}
	var attempts int
	var lastErr string
	if err := e.db.QueryRow(context.Background(), `UPDATE invitation_mails SET next_attempt_at = now() RETURNING attempts, last_error`).Scan(&attempts, &lastErr); err != nil || attempts != 1 || lastErr == "" {
		t.Fatalf("after a failed send: %d attempts, %q (%v)", attempts, lastErr, err)
	}
	if n := m.worker.Drain(context.Background()); n != 1 {
		t.Fatalf("retry sent %d", n)
	}
	m.tokenTo(t, "gil@elsewhere.example", 1)
	if got := len(m.to("gil@elsewhere.example")); got != 1 {
		t.Errorf("%d mails, want 1", got)
	}
}

// Every refused action: its status and problem type, and no event.
func TestRefusedInvitationActions(t *testing.T) {
	t.Parallel()
	e, dans := sharedTenant(t)
	m := newMailer(t, e)
	ann, cat := e.token("ann", "shared"), e.token("cat", "shared")
	ctx := context.Background()

	// Fixtures: invitations in every state, each with its mailed token.
	pendingID := e.invite("pat@elsewhere.example", "member")
	e.invite("exp@elsewhere.example", "member")
	revokedID := e.invite("rev@elsewhere.example", "member")
	e.invite("fay@elsewhere.example", "member")
	e.invite("una@elsewhere.example", "member")
	e.invite("sue@elsewhere.example", "member")
	m.worker.Drain(ctx)
	tok := func(addr string) string { tk, _ := m.tokenTo(t, addr, 1); return tk }
	patTok, expTok, revTok, fayTok, unaTok, sueTok := tok("pat@elsewhere.example"), tok("exp@elsewhere.example"), tok("rev@elsewhere.example"),
		tok("fay@elsewhere.example"), tok("una@elsewhere.example"), tok("sue@elsewhere.example")
	if status, p := e.call("DELETE", "/v1/tenant/invitations/"+revokedID, ann, "", ""); status != 204 {
		t.Fatalf("revoke: %d %v", status, p)
	}
	if _, err := e.db.Exec(ctx, `UPDATE invitations SET expires_at = now() - interval '1 second' WHERE email = 'exp@elsewhere.example'`); err != nil {
		t.Fatal(err)
	}
	e.activate("fay", "fay@elsewhere.example")
	if status, p := e.call("POST", "/v1/invitations/"+fayTok+"/accept", e.token("fay", ""), "", ""); status != 200 {
		t.Fatalf("fay accepts: %d %v", status, p)
	}
	acceptedID := ""
	if err := e.db.QueryRow(ctx, `SELECT id::text FROM invitations WHERE email = 'fay@elsewhere.example'`).Scan(&acceptedID); err != nil {
		t.Fatal(err)
	}
	// Una's email is not verified (changed in Keycloak, not yet confirmed); a second account has fay's address.
	e.activate("una", "una@elsewhere.example")
	e.activate("fay2", "fay2@elsewhere.example")
	if _, err := e.db.Exec(ctx, `UPDATE users SET email_verified = false WHERE id = 'una'; UPDATE users SET email = 'fay@elsewhere.example' WHERE id = 'fay2'`); err != nil {
		t.Fatal(err)
	}
	e.activate("sue", "sue@elsewhere.example")
	bob := e.token("bob", "shared")

	before := e.outbox()
	for _, tc := range []struct {
		name, method, path, token, header, body string
		status                                  int
		typ                                     string
	}{
		{"a member invites", "POST", "/v1/tenant/invitations", cat, "", `{"email":"x@y.example","role":"member"}`, 403, "urn:bbq:problem:not-an-admin"},
		{"a member lists", "GET", "/v1/tenant/invitations", cat, "", "", 403, "urn:bbq:problem:not-an-admin"},
		{"a member resends", "POST", "/v1/tenant/invitations/" + pendingID + "/resend", cat, "", "", 403, "urn:bbq:problem:not-an-admin"},
		{"a member revokes", "DELETE", "/v1/tenant/invitations/" + pendingID, cat, "", "", 403, "urn:bbq:problem:not-an-admin"},
		{"a member already", "POST", "/v1/tenant/invitations", ann, "", `{"email":"BOB@shared.example","role":"member"}`, 409, "urn:bbq:problem:already-member"},
		{"invited already", "POST", "/v1/tenant/invitations", ann, "", `{"email":"pat@elsewhere.example","role":"admin"}`, 409, "urn:bbq:problem:already-invited"},
		{"invalid email", "POST", "/v1/tenant/invitations", ann, "", `{"email":"pat at elsewhere","role":"member"}`, 422, "urn:bbq:problem:invalid-email"},
		{"a display name", "POST", "/v1/tenant/invitations", ann, "", `{"email":"Pat <pat@elsewhere.example>","role":"member"}`, 422, "urn:bbq:problem:invalid-email"},
		{"no email", "POST", "/v1/tenant/invitations", ann, "", `{"role":"member"}`, 422, "urn:bbq:problem:invalid-email"},
		{"unknown role", "POST", "/v1/tenant/invitations", ann, "", `{"email":"x@y.example","role":"owner"}`, 422, "about:blank"},
		{"no role", "POST", "/v1/tenant/invitations", ann, "", `{"email":"x@y.example"}`, 422, "about:blank"},
		{"bad status filter", "GET", "/v1/tenant/invitations?status=old", ann, "", "", 400, "about:blank"},
		{"resend revoked", "POST", "/v1/tenant/invitations/" + revokedID + "/resend", ann, "", "", 409, "urn:bbq:problem:invitation-not-pending"},
		{"resend accepted", "POST", "/v1/tenant/invitations/" + acceptedID + "/resend", ann, "", "", 409, "urn:bbq:problem:invitation-not-pending"},
		{"revoke accepted", "DELETE", "/v1/tenant/invitations/" + acceptedID, ann, "", "", 409, "urn:bbq:problem:invitation-not-pending"},
		{"resend unknown", "POST", "/v1/tenant/invitations/0193a0b0-0000-7000-8000-000000000000/resend", ann, "", "", 404, "urn:bbq:problem:no-such-invitation"},
		{"revoke a non-uuid", "DELETE", "/v1/tenant/invitations/nope", ann, "", "", 404, "urn:bbq:problem:no-such-invitation"},
		{"accept with another email", "POST", "/v1/invitations/" + patTok + "/accept", bob, "", "", 403, "urn:bbq:problem:email-mismatch"},
		{"accept unverified", "POST", "/v1/invitations/" + unaTok + "/accept", e.token("una", ""), "", "", 403, "urn:bbq:problem:email-not-verified"},
		{"accept expired", "POST", "/v1/invitations/" + expTok + "/accept", bob, "", "", 410, "urn:bbq:problem:invitation-expired"},
		{"accept revoked", "POST", "/v1/invitations/" + revTok + "/accept", bob, "", "", 410, "urn:bbq:problem:invitation-revoked"},
		{"accept used by someone else", "POST", "/v1/invitations/" + fayTok + "/accept", e.token("fay2", ""), "", "", 409, "urn:bbq:problem:invitation-accepted"},
		{"accept unknown token", "POST", "/v1/invitations/" + strings.Repeat("A", 43) + "/accept", bob, "", "", 404, "urn:bbq:problem:no-such-invitation"},
		{"accept a malformed token", "POST", "/v1/invitations/short/accept", bob, "", "", 404, "urn:bbq:problem:no-such-invitation"},
		{"preview unknown token", "GET", "/v1/invitations/" + strings.Repeat("B", 43), bob, "", "", 404, "urn:bbq:problem:no-such-invitation"},
		{"accept before the account is active", "POST", "/v1/invitations/" + patTok + "/accept", e.token("newcomer", ""), "", "", 409, "urn:bbq:problem:not-active-yet"},
		{"another tenant's admin lists ours", "GET", "/v1/tenant/invitations", e.token("dan", dans), "shared", "", 403, "urn:bbq:problem:not-a-member"},
		{"no token", "GET", "/v1/invitations/" + patTok, "", "", "", 401, "about:blank"},
	} {
		status, p, _ := e.do(tc.method, tc.path, tc.token, tc.header, tc.body)
		if typ, _ := p["type"].(string); status != tc.status || typ != tc.typ {
			t.Errorf("%s: %d %v; want %d %s", tc.name, status, p, tc.status, tc.typ)
		}
	}
	if got := e.announced(before); len(got) != 0 {
		t.Errorf("refused actions announced %v", got)
	}

	// A suspended tenant: nobody is invited into it, and its links do not let anyone in.
	if _, err := e.s.PutTenant(ctx, store.Tenant{ID: "shared", DisplayName: "Shared", EmailDomains: []string{"shared.example"},
		Admins: []string{"ann@shared.example"}, Suspended: true}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, method, path, token, body string }{
		{"invite into a suspended tenant", "POST", "/v1/tenant/invitations", ann, `{"email":"x@y.example","role":"member"}`},
		{"accept into a suspended tenant", "POST", "/v1/invitations/" + sueTok + "/accept", e.token("sue", ""), ""},
	} {
		if status, p, _ := e.do(tc.method, tc.path, tc.token, "", tc.body); status != 403 || p["type"] != "urn:bbq:problem:tenant-suspended" {
			t.Errorf("%s: %d %v", tc.name, status, p)
		}
	}
}

// More than INVITATIONS_PER_HOUR mails (invites and resends) in a tenant: 429 with Retry-After.
func TestInvitationRateLimit(t *testing.T) {
	t.Parallel()
	e, _ := sharedTenant(t)
	e.s.InvitationLimits = domain.InvitationLimits{PerHour: 2}
	ann := e.token("ann", "shared")
	id := e.invite("one@elsewhere.example", "member")
	if status, p := e.call("POST", "/v1/tenant/invitations/"+id+"/resend", ann, "", ""); status != 200 {
		t.Fatalf("resend: %d %v", status, p)
	}
	before := e.outbox()
	for _, tc := range []struct{ name, method, path, body string }{
		{"third invite", "POST", "/v1/tenant/invitations", `{"email":"two@elsewhere.example","role":"member"}`},
		{"second resend", "POST", "/v1/tenant/invitations/" + id + "/resend", ""},
	} {
		status, p, h := e.do(tc.method, tc.path, ann, "", tc.body)
		secs, _ := strconv.Atoi(h.Get("Retry-After"))
		if status != 429 || p["type"] != "urn:bbq:problem:invitation-rate-limit" || secs < 3500 || secs > 3600 {
			t.Errorf("%s: %d %v, Retry-After %q", tc.name, status, p, h.Get("Retry-After"))
		}
	}
	if got := e.announced(before); len(got) != 0 {
		t.Errorf("refused invitations announced %v", got)
	}
	// The limit is the tenant's: another tenant invites on.
	dans := e.activate("dan2", "dan2@solo.example")
	if status, p := e.call("POST", "/v1/tenant/invitations", e.token("dan2", dans), "", `{"email":"two@elsewhere.example","role":"member"}`); status != 201 {
		t.Errorf("another tenant: %d %v", status, p)
	}
}

// Row-level security: another tenant's admin neither sees nor touches our invitations, through the API or in
// the database as bbq_api; our members who are not admins do not see them either.
func TestInvitationsOfOtherTenantsInvisible(t *testing.T) {
	t.Parallel()
	e, dans := sharedTenant(t)
	id := e.invite("pat@elsewhere.example", "member")
	dan := e.token("dan", dans)
	e.invite("dan-guest@elsewhere.example", "member") // ann's second one
	if status, _ := e.call("POST", "/v1/tenant/invitations", dan, "", `{"email":"zed@elsewhere.example","role":"admin"}`); status != 201 {
		t.Fatalf("dan invites: %d", status)
	}
	for _, tc := range []struct {
		name, method, path string
		status             int
	}{
		{"revoke ours from dan's tenant", "DELETE", "/v1/tenant/invitations/" + id, 404},
		{"resend ours from dan's tenant", "POST", "/v1/tenant/invitations/" + id + "/resend", 404},
	} {
		if status, p := e.call(tc.method, tc.path, dan, "", ""); status != tc.status {
			t.Errorf("%s: %d %v", tc.name, status, p)
		}
	}
	if status, list := e.call("GET", "/v1/tenant/invitations", dan, "", ""); status != 200 || len(list["invitations"].([]any)) != 1 {
		t.Errorf("dan's list: %d %v; want his one invitation only", status, list)
	}
	var st string
	if err := e.db.QueryRow(context.Background(), `SELECT status FROM invitations WHERE id = $1`, id).Scan(&st); err != nil || st != "pending" {
		t.Errorf("ours is %q (%v)", st, err)
	}
	// Below the API, as bbq_api: what each caller naming the shared tenant can read.
	for _, tc := range []struct {
		user, tenant string
		want         int
	}{{"ann", "shared", 2}, {"cat", "shared", 0}, {"dan", "shared", 0}, {"dan", dans, 1}, {"bob", dans, 0}} {
		var n int
		err := pgx.BeginFunc(context.Background(), e.api, func(tx pgx.Tx) error {
			if _, err := tx.Exec(context.Background(), `SET LOCAL ROLE bbq_api`); err != nil {
				return err
			}
			if _, err := tx.Exec(context.Background(), `SELECT set_config('app.user_id', $1, true), set_config('app.tenant_id', $2, true)`, tc.user, tc.tenant); err != nil {
				return err
			}
			return tx.QueryRow(context.Background(), `SELECT count(*) FROM invitations`).Scan(&n)
		})
		if err != nil || n != tc.want {
			t.Errorf("%s in %s reads %d invitations (%v); want %d", tc.user, tc.tenant, n, err, tc.want)
		}
	}
	// bbq_api cannot read the token hashes at all.
	err := pgx.BeginFunc(context.Background(), e.api, func(tx pgx.Tx) error {
		if _, err := tx.Exec(context.Background(), `SET LOCAL ROLE bbq_api`); err != nil {
			return err
		}
		_, err := tx.Exec(context.Background(), `SELECT token_hash FROM invitations`)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "permission denied for table invitations") {
		t.Errorf("bbq_api read token_hash: %v", err)
	}
}

// Each action announces exactly once however often the request comes (retries, two at once), the sweep
// announces an expiry once, a mail goes out once, and a resend's old link stops working.
func TestInvitationEventsOnceUnderRetries(t *testing.T) {
	t.Parallel()
	e, _ := sharedTenant(t)
	m := newMailer(t, e)
	ctx := context.Background()
	ann := e.token("ann", "shared")
	body := `{"email":"hal@elsewhere.example","role":"admin"}`

	before := e.outbox()
	statuses := parallel(2, func() int { s, _ := e.call("POST", "/v1/tenant/invitations", ann, "", body); return s })
	if fmt.Sprint(statuses) != "[201 409]" {
		t.Errorf("two invites at once: %v; want one 201 and one 409", statuses)
	}
	if s, _ := e.call("POST", "/v1/tenant/invitations", ann, "", body); s != 409 {
		t.Errorf("retried invite: %d", s)
	}
	if got := e.announced(before); !maps.Equal(got, map[string]int{created: 1}) {
		t.Errorf("invites announced %v", got)
	}
	m.worker.Drain(ctx)
	m.worker.Drain(ctx)
	oldTok, _ := m.tokenTo(t, "hal@elsewhere.example", 1)
	if n := len(m.to("hal@elsewhere.example")); n != 1 {
		t.Errorf("%d mails after two rounds, want 1", n)
	}

	// Resend: a new mail with a new link; the old one names nothing any more.
	var id string
	if err := e.db.QueryRow(ctx, `SELECT id::text FROM invitations WHERE email = 'hal@elsewhere.example'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	before = e.outbox()
	if s, p := e.call("POST", "/v1/tenant/invitations/"+id+"/resend", ann, "", ""); s != 200 || p["status"] != "pending" {
		t.Errorf("resend: %d %v", s, p)
	}
	if got := e.announced(before); len(got) != 0 {
		t.Errorf("resend announced %v", got)
	}
	m.worker.Drain(ctx)
	newTok, _ := m.tokenTo(t, "hal@elsewhere.example", 2)
	if newTok == oldTok {
		t.Error("resend mailed the old token")
	}
	if s, p := e.call("GET", "/v1/invitations/"+oldTok, ann, "", ""); s != 404 {
		t.Errorf("old link after resend: %d %v", s, p)
	}

	// Accepting twice at once, and once more: one membership, announced once.
	e.activate("hal", "hal@elsewhere.example")
	hal := e.token("hal", "")
	before = e.outbox()
	statuses = parallel(2, func() int { s, _ := e.call("POST", "/v1/invitations/"+newTok+"/accept", hal, "", ""); return s })
	if s, _ := e.call("POST", "/v1/invitations/"+newTok+"/accept", hal, "", ""); fmt.Sprint(statuses) != "[200 200]" || s != 200 {
		t.Errorf("accepts: %v then %d; want 200s", statuses, s)
	}
	if got := e.announced(before); !maps.Equal(got, map[string]int{accepted: 1, events.TenantMemberAdded.Subject: 1}) {
		t.Errorf("accepts announced %v", got)
	}
	var role string
	if err := e.db.QueryRow(ctx, `SELECT role FROM memberships WHERE tenant_id = 'shared' AND user_id = 'hal'`).Scan(&role); err != nil || role != "admin" {
		t.Errorf("hal is %q in shared (%v)", role, err)
	}

	// Revoking twice: announced once. Expiry swept twice: announced once; shown expired before the sweep.
	before = e.outbox()
	rid := e.invite("ivy@elsewhere.example", "member")
	for range 2 {
		if s, _ := e.call("DELETE", "/v1/tenant/invitations/"+rid, ann, "", ""); s != 204 {
			t.Errorf("revoke: %d", s)
		}
	}
	xid := e.invite("xan@elsewhere.example", "member")
	if _, err := e.db.Exec(ctx, `UPDATE invitations SET expires_at = now() - interval '1 second' WHERE id = $1`, xid); err != nil {
		t.Fatal(err)
	}
	if s, list := e.call("GET", "/v1/tenant/invitations?status=expired", ann, "", ""); s != 200 || len(list["invitations"].([]any)) != 1 {
		t.Errorf("expired before the sweep: %d %v", s, list)
	}
	sweeper := expiry.New(expiry.Config{Interval: time.Hour}, e.s, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	for i, want := range []int{1, 0} {
		if n, err := sweeper.Round(ctx); n != want || err != nil {
			t.Errorf("sweep %d: %d (%v); want %d", i, n, err, want)
		}
	}
	if got := e.announced(before); !maps.Equal(got, map[string]int{created: 2, revoked: 1, expired: 1}) {
		t.Errorf("revoke and expiry announced %v", got)
	}
	// The expired one can be resent, and then is pending again.
	if s, p := e.call("POST", "/v1/tenant/invitations/"+xid+"/resend", ann, "", ""); s != 200 || p["status"] != "pending" {
		t.Errorf("resend expired: %d %v", s, p)
	}
	if exp := e.outboxData(events.InvitationExpired); len(exp) != 1 || exp[0]["_subject"] != "shared" || exp[0]["invitationId"] != xid {
		t.Errorf("InvitationExpired: %v", exp)
	}
}

// parallel runs f n times at once and returns the results, sorted.
func parallel(n int, f func() int) []int {
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := make([]int, 0, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := f()
			mu.Lock()
			out = append(out, s)
			mu.Unlock()
		}()
	}
	wg.Wait()
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

package kctest

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/connectedbbq/platform/testing/smtpsink"
)

// MailSince waits for a mail to addr with an action link that arrived after since (so an older mail to the
// same address is not taken for the new one) and returns the link.
func (r *Realm) MailSince(t testing.TB, addr string, since time.Time) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := r.Mail.Wait(ctx, func(m smtpsink.Message) bool {
		return addressedTo(m, addr) && !m.Received.Before(since) && actionLink(m) != ""
	})
	if err != nil {
		t.Fatalf("kctest: no mail with a link to %s since %s: %v", addr, since.Format(time.RFC3339Nano), err)
	}
	return actionLink(m)
}

// OpenMailLink opens an action link from a mail (verify email, reset password) in a fresh browser, as a
// person who reads the mail on another device: it sets newPassword when Keycloak asks for one and follows
// Keycloak's "proceed" links until Keycloak has nothing more to ask.
func (r *Realm) OpenMailLink(t testing.TB, link, newPassword string) {
	t.Helper()
	s := &Session{Password: newPassword, HTTP: r.Browser(), realm: r}
	s.walkActions(t, s.get(t, link))
}

// SendVerifyEmail has Keycloak mail the user a verification link (admin API), then follows it (setting
// password if Keycloak asks for one).
func (r *Realm) SendVerifyEmail(t testing.TB, userID, email, password string) {
	t.Helper()
	since := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.KC.adminDo(ctx, http.MethodPut, "/admin/realms/"+r.Name+"/users/"+userID+"/send-verify-email", nil); err != nil {
		t.Fatalf("kctest: send verify email to %s: %v", email, err)
	}
	r.OpenMailLink(t, r.MailSince(t, email, since), password)
}

// TryPasswordToken is PasswordToken returning Keycloak's refusal (disabled, not verified, wrong password).
func (r *Realm) TryPasswordToken(email, password string) (Token, error) {
	return passwordGrant(context.Background(), r.Issuer, TestClientID, r.Secrets[TestClientID], email, password)
}

// ResetPassword goes through "Forgot password?" on the login page: the form, the mail, the new password.
func (r *Realm) ResetPassword(t testing.TB, email, newPassword string) {
	t.Helper()
	s := &Session{Email: email, Password: newPassword, HTTP: r.Browser(), realm: r, verifier: randomToken(32), state: randomToken(12)}
	login := s.get(t, r.Issuer+"/protocol/openid-connect/auth?"+s.authParams().Encode())
	forgot := ""
	for _, m := range hrefRE.FindAllStringSubmatch(login.body, -1) {
		if strings.Contains(m[1], "/login-actions/reset-credentials") {
			forgot = resolve(login.url, m[1])
		}
	}
	if forgot == "" {
		t.Fatalf("kctest: no forgot-password link at %s:\n%s", login.url, snippet(login.body))
	}
	page := s.get(t, forgot)
	action, ok := formAction(page.body, "kc-reset-password-form")
	if !ok {
		t.Fatalf("kctest: no reset-password form at %s:\n%s", page.url, snippet(page.body))
	}
	since := time.Now()
	s.post(t, action, url.Values{"username": {email}})
	s.walkActions(t, s.get(t, r.MailSince(t, email, since)))
}

// walkActions answers Keycloak's pages after an action link: the new password form, "proceed" links to
// Keycloak itself; it stops at the dashboard (a redirect) or at a page that asks nothing more.
func (s *Session) walkActions(t testing.TB, page page) {
	t.Helper()
	for range 6 {
		if page.redirect != "" {
			return
		}
		if action, ok := formAction(page.body, "kc-passwd-update-form"); ok {
			if s.Password == "" {
				t.Fatalf("kctest: Keycloak asks %s for a password at %s", s.Email, page.url)
			}
			page = s.post(t, action, url.Values{"password-new": {s.Password}, "password-confirm": {s.Password}})
			if _, again := formAction(page.body, "kc-passwd-update-form"); again {
				t.Fatalf("kctest: password for %s refused: %s", s.Email, pageErrors(page.body))
			}
			continue
		}
		next := proceedLink(page.body)
		if next == "" || !strings.HasPrefix(resolve(page.url, next), s.realm.KC.URL) {
			return // an information page ("Your email address has been verified"), or a link to the dashboard
		}
		page = s.get(t, resolve(page.url, next))
	}
	t.Fatalf("kctest: action pages for %s did not end", s.Email)
}

func resolve(base, ref string) string {
	b, err := url.Parse(base)
	if err != nil {
		return ref
	}
	r, err := url.Parse(strings.ReplaceAll(ref, "&amp;", "&"))
	if err != nil {
		return ref
	}
	return b.ResolveReference(r).String()
}

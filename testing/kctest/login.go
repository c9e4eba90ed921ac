package kctest

import (
	"html"
	"net/url"
	"testing"
)

// TryLogin signs a person in through the realm's login page, as a browser does (the dashboard's code flow
// with PKCE). It returns the tokens when Keycloak went through to the dashboard, else nil and the text of the
// page it stopped at (a refusal, say), with tags removed and entities decoded.
func (r *Realm) TryLogin(t testing.TB, email, password string) (*Token, string) {
	t.Helper()
	s := &Session{Email: email, Password: password, HTTP: r.Browser(), realm: r, verifier: randomToken(32), state: randomToken(12)}
	login := s.get(t, r.Issuer+"/protocol/openid-connect/auth?"+s.authParams().Encode())
	action, ok := formAction(login.body, "kc-form-login")
	if !ok {
		t.Fatalf("kctest: no login form at %s:\n%s", login.url, snippet(login.body))
	}
	page := s.doAllowing(t, action, url.Values{"username": {email}, "password": {password}})
	if page.redirect != "" {
		tok := s.exchange(t, page.redirect)
		return &tok, ""
	}
	return nil, html.UnescapeString(tagRE.ReplaceAllString(page.body, " "))
}

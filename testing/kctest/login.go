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
	return r.TryLoginWithScopes(t, email, password, "")
}

// TryLoginWithScopes is TryLogin asking for more scopes (space-separated) than the dashboard does.
func (r *Realm) TryLoginWithScopes(t testing.TB, email, password, scopes string) (*Token, string) {
	t.Helper()
	s := &Session{Email: email, Password: password, HTTP: r.Browser(), realm: r, verifier: randomToken(32), state: randomToken(12),
		scopes: scopes}
	login := s.get(t, r.Issuer+"/protocol/openid-connect/auth?"+s.authParams().Encode())
	action, ok := formAction(login.body, "kc-form-login")
	if !ok {
		t.Fatalf("kctest: no login form at %s:\n%s", login.url, snippet(login.body))
	}
	return s.outcome(t, s.doAllowing(t, action, url.Values{"username": {email}, "password": {password}}))
}

// TrySignIn is SignIn for a person who signed in through the provider before: the test realm's login page,
// the provider's button and login form, back to the test realm. It returns the tokens, or nil and the text of
// the page the test realm stopped at (a refusal, say).
func (p *ProviderRealm) TrySignIn(t testing.TB, email, password string) (*Token, string) {
	t.Helper()
	r := p.Target
	s := &Session{Email: email, Password: password, HTTP: r.Browser(), realm: r, verifier: randomToken(32), state: randomToken(12)}
	login := s.get(t, r.Issuer+"/protocol/openid-connect/auth?"+s.authParams().Encode())
	button, err := brokerLink(login, p.Alias)
	if err != nil {
		t.Fatalf("kctest: %v", err)
	}
	form := s.get(t, button)
	action, ok := formAction(form.body, "kc-form-login")
	if !ok {
		t.Fatalf("kctest: no login form of the provider at %s:\n%s", form.url, snippet(form.body))
	}
	return s.outcome(t, s.doAllowing(t, action, url.Values{"username": {email}, "password": {password}}))
}

// outcome is the tokens when page redirected to the dashboard, else the page's text.
func (s *Session) outcome(t testing.TB, page page) (*Token, string) {
	t.Helper()
	if page.redirect != "" {
		tok := s.exchange(t, page.redirect)
		return &tok, ""
	}
	return nil, html.UnescapeString(tagRE.ReplaceAllString(page.body, " "))
}

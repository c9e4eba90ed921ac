package kctest

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"
)

// BrokerOptions configure a second realm acting as an OIDC identity provider of a test realm.
type BrokerOptions struct {
	Alias      string // the identity provider's alias in the test realm; default "corp"
	TrustEmail bool   // Keycloak takes the provider's email as verified (no verification mail)
	SyncMode   string // IMPORT (default), FORCE or LEGACY
	// FirstLoginFlow is the provider's first broker login flow: default Keycloak's "first broker login" (the
	// shipped realm's "bbq first broker login" leaves out its organization step).
	FirstLoginFlow string
}

// ProviderRealm is a second realm of the same Keycloak, registered as an OIDC identity provider of a test
// realm: "sign in with your company's SSO" with real Keycloak on both sides. In tests the browser and the
// back channel both reach Keycloak at its own URL (behind `make run` the browser URLs go through the
// dashboard's public URL instead; see /work/shared/recipes/keycloak-second-realm-idp.sh).
type ProviderRealm struct {
	KC     *Keycloak
	Name   string
	Issuer string
	Alias  string
	Target *Realm
}

// NewProviderRealm creates the provider realm with a confidential client for the broker, and registers it
// as an identity provider of target. Both go when t ends (the provider realm is deleted; the identity
// provider goes with the test realm).
func NewProviderRealm(t testing.TB, target *Realm, opts BrokerOptions) *ProviderRealm {
	t.Helper()
	if opts.Alias == "" {
		opts.Alias = "corp"
	}
	if opts.SyncMode == "" {
		opts.SyncMode = "IMPORT"
	}
	if opts.FirstLoginFlow == "" {
		opts.FirstLoginFlow = "first broker login"
	}
	kc := target.KC
	p := &ProviderRealm{KC: kc, Name: realmName("idp-" + t.Name()), Alias: opts.Alias, Target: target}
	p.Issuer = kc.URL + "/realms/" + p.Name
	secret := randomToken(24)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	realm := map[string]any{"id": p.Name, "realm": p.Name, "enabled": true, "sslRequired": "none",
		"clients": []any{map[string]any{"clientId": "bbq-broker", "enabled": true, "publicClient": false,
			"secret": secret, "standardFlowEnabled": true, "directAccessGrantsEnabled": false,
			"redirectUris": []string{target.Issuer + "/broker/" + opts.Alias + "/endpoint"}}}}
	if err := kc.adminDo(ctx, http.MethodPost, "/admin/realms", realm); err != nil {
		t.Fatalf("kctest: create provider realm %s: %v", p.Name, err)
	}
	kc.deleteRealmAtCleanup(t, p.Name)
	oidc := p.Issuer + "/protocol/openid-connect"
	idp := map[string]any{"alias": opts.Alias, "displayName": "Corp SSO", "providerId": "oidc", "enabled": true,
		"trustEmail": opts.TrustEmail, "firstBrokerLoginFlowAlias": opts.FirstLoginFlow,
		"config": map[string]string{"clientId": "bbq-broker", "clientSecret": secret,
			"authorizationUrl": oidc + "/auth", "tokenUrl": oidc + "/token", "userInfoUrl": oidc + "/userinfo",
			"jwksUrl": oidc + "/certs", "issuer": p.Issuer, "validateSignature": "true", "useJwksUrl": "true",
			"clientAuthMethod": "client_secret_post", "defaultScope": "openid email profile", "syncMode": opts.SyncMode}}
	if err := kc.adminDo(ctx, http.MethodPost, "/admin/realms/"+target.Name+"/identity-provider/instances", idp); err != nil {
		t.Fatalf("kctest: register identity provider %s in %s: %v", opts.Alias, target.Name, err)
	}
	return p
}

// AddUser creates a person in the provider realm (email verified there, with a password) and returns the id.
func (p *ProviderRealm) AddUser(t testing.TB, email, firstName, lastName, password string) string {
	t.Helper()
	u := map[string]any{"username": email, "email": email, "emailVerified": true, "enabled": true,
		"firstName": firstName, "lastName": lastName,
		"credentials": []any{map[string]any{"type": "password", "value": password, "temporary": false}}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.KC.adminDo(ctx, http.MethodPost, "/admin/realms/"+p.Name+"/users", u); err != nil {
		t.Fatalf("kctest: provider user %s: %v", email, err)
	}
	var found []struct {
		ID string `json:"id"`
	}
	if err := p.KC.adminJSON(ctx, http.MethodGet, "/admin/realms/"+p.Name+"/users?exact=true&email="+url.QueryEscape(email), nil, &found); err != nil || len(found) != 1 {
		t.Fatalf("kctest: provider user %s not found (%v)", email, err)
	}
	return found[0].ID
}

// SignIn signs a person of the provider realm in to the test realm through the provider, as a browser does:
// the test realm's login page, its "Corp SSO" button, the provider's login form, back to the test realm's
// first broker login. It returns the session and, when Keycloak went through to the dashboard, the tokens;
// tok is nil when Keycloak waits for the email to be verified (trust email off): then
// s.FollowVerification(t) follows the mail.
func (p *ProviderRealm) SignIn(t testing.TB, email, password string) (s *Session, tok *Token) {
	t.Helper()
	r := p.Target
	s = &Session{Email: email, Password: password, HTTP: r.Browser(), realm: r, verifier: randomToken(32), state: randomToken(12)}
	login := s.get(t, r.Issuer+"/protocol/openid-connect/auth?"+s.authParams().Encode())
	button, err := brokerLink(login, p.Alias)
	if err != nil {
		t.Fatalf("kctest: %v", err)
	}
	page := s.get(t, button)
	action, ok := formAction(page.body, "kc-form-login")
	if !ok {
		t.Fatalf("kctest: no login form of the provider at %s:\n%s", page.url, snippet(page.body))
	}
	page = s.post(t, action, url.Values{"username": {email}, "password": {password}})
	return s, s.finishBrokerLogin(t, page)
}

// finishBrokerLogin walks the test realm's first broker login pages after the provider sent the person back.
func (s *Session) finishBrokerLogin(t testing.TB, page page) *Token {
	t.Helper()
	for range 4 {
		switch {
		case page.redirect != "":
			tok := s.exchange(t, page.redirect)
			return &tok
		case hasForm(page.body, "kc-form-login"):
			t.Fatalf("kctest: the provider refused %s: %s", s.Email, pageErrors(page.body))
		case hasForm(page.body, "kc-idp-review-profile-form") || hasForm(page.body, "kc-update-profile-form"):
			action, _ := formAction(page.body, "kc-idp-review-profile-form")
			if action == "" {
				action, _ = formAction(page.body, "kc-update-profile-form")
			}
			page = s.post(t, action, url.Values{"email": {s.Email}, "firstName": {s.Name}})
		case emailVerificationPageRE.MatchString(page.body):
			return nil // Keycloak sent the verification mail
		default:
			t.Fatalf("kctest: broker sign-in of %s stopped at %s:\n%s", s.Email, page.url, snippet(page.body))
		}
	}
	t.Fatalf("kctest: broker sign-in of %s did not finish", s.Email)
	return nil
}

var emailVerificationPageRE = regexp.MustCompile(`(?i)verify your email|email verification|verify-email`)

func hasForm(body, id string) bool {
	_, ok := formAction(body, id)
	return ok
}

// brokerLink finds the identity provider's button on a login page and resolves it against the page's URL.
func brokerLink(p page, alias string) (string, error) {
	re := regexp.MustCompile(`href="([^"]*/broker/` + regexp.QuoteMeta(alias) + `/login[^"]*)"`)
	m := re.FindStringSubmatch(p.body)
	if m == nil {
		return "", fmt.Errorf("no %q button on the login page %s:\n%s", alias, p.url, snippet(p.body))
	}
	base, err := url.Parse(p.url)
	if err != nil {
		return "", err
	}
	ref, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		return "", err
	}
	return base.ResolveReference(ref).String(), nil
}

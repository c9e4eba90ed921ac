package kctest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/connectedbbq/platform/testing/smtpsink"
)

// Token is an OAuth token response.
type Token struct {
	AccessToken  string `json:"access_token"`
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
}

// Claims decodes the access token's payload without verifying it (tests verify with go-oidc where it matters).
func (t Token) Claims() (map[string]any, error) { return jwtClaims(t.AccessToken) }

// Subject is the access token's sub: the Keycloak user id.
func (t Token) Subject() string {
	c, err := t.Claims()
	if err != nil {
		return ""
	}
	sub, _ := c["sub"].(string)
	return sub
}

// IDClaims decodes the ID token's payload.
func (t Token) IDClaims() (map[string]any, error) { return jwtClaims(t.IDToken) }

func jwtClaims(jwt string) (map[string]any, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil, errors.New("kctest: not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("kctest: JWT payload: %w", err)
	}
	var c map[string]any
	return c, json.Unmarshal(b, &c)
}

// Session is one person's browser, in the middle of the dashboard's authorization-code + PKCE flow.
type Session struct {
	Email    string
	Password string
	Name     string
	HTTP     *http.Client // with the Keycloak cookies
	realm    *Realm
	verifier string
	state    string
	// scopes are added to the dashboard's "openid email profile" (an optional client scope such as organization).
	scopes string
	// pendingEmail is the address given to UpdateEmail, until FollowEmailChange.
	pendingEmail string
}

// Browser is a cookie-keeping HTTP client that stops at the dashboard's redirect URI (nothing listens there).
func (r *Realm) Browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if r.isRedirectURI(req.URL.String()) || len(via) > 10 {
				return http.ErrUseLastResponse
			}
			return nil
		}}
}

func (r *Realm) isRedirectURI(u string) bool {
	for _, ru := range r.RedirectURIs {
		if strings.HasPrefix(u, ru) {
			return true
		}
	}
	return false
}

// SignUp registers a person through Keycloak's own registration page, as a browser would: it opens the
// dashboard's registration URL (PKCE S256), reads the form, and posts it. With email verification on,
// Keycloak 26 asks for the password only after the email is verified; FollowVerification sets it.
func (r *Realm) SignUp(t testing.TB, email, password, name string) *Session {
	t.Helper()
	s := &Session{Email: email, Password: password, Name: name, HTTP: r.Browser(), realm: r,
		verifier: randomToken(32), state: randomToken(12)}
	page := s.get(t, r.Issuer+"/protocol/openid-connect/registrations?"+s.authParams().Encode())
	action, ok := formAction(page.body, "kc-register-form")
	if !ok {
		t.Fatalf("kctest: no registration form at %s:\n%s", page.url, snippet(page.body))
	}
	form := url.Values{"email": {email}, "firstName": {name}}
	if strings.Contains(page.body, `name="password"`) || strings.Contains(page.body, `id="password"`) {
		form.Set("password", password)
		form.Set("password-confirm", password)
	}
	page = s.post(t, action, form)
	if _, again := formAction(page.body, "kc-register-form"); again {
		t.Fatalf("kctest: registration of %s refused: %s", email, pageErrors(page.body))
	}
	return s
}

// authParams are the dashboard's authorization request parameters (code flow, PKCE S256).
func (s *Session) authParams() url.Values {
	sum := sha256.Sum256([]byte(s.verifier))
	return url.Values{
		"client_id": {"dashboard"}, "response_type": {"code"}, "scope": {strings.TrimSpace("openid email profile " + s.scopes)},
		"redirect_uri": {s.realm.RedirectURIs[0]}, "state": {s.state}, "nonce": {randomToken(12)},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
}

// DeleteAccount deletes the signed-in person's own account through Keycloak's delete_account application-
// initiated action (a user event DELETE_ACCOUNT). The realm needs Options.AllowDeleteAccount, and the session
// must be signed in (after FollowVerification).
func (s *Session) DeleteAccount(t testing.TB) {
	t.Helper()
	s.post(t, s.applicationAction(t, "delete_account", "kc-deleteaccount-form"), url.Values{})
}

// applicationAction starts an application-initiated action (kc_action), signing in again when the SSO session
// is gone, and returns where its form posts.
func (s *Session) applicationAction(t testing.TB, kcAction, formID string) string {
	t.Helper()
	q := s.authParams()
	q.Set("kc_action", kcAction)
	page := s.get(t, s.realm.Issuer+"/protocol/openid-connect/auth?"+q.Encode())
	if login, ok := formAction(page.body, "kc-form-login"); ok { // no SSO session (or too old): sign in again
		page = s.post(t, login, url.Values{"username": {s.Email}, "password": {s.Password}})
	}
	action, ok := formAction(page.body, formID)
	if !ok {
		t.Fatalf("kctest: no %s form for %s at %s:\n%s", kcAction, s.Email, page.url, snippet(page.body))
	}
	return action
}

// UpdateEmail asks for a new email address through Keycloak's UPDATE_EMAIL application-initiated action, as
// the account console does. With verify-email on, Keycloak mails a link to the new address and changes the email
// only when it is followed (FollowEmailChange); the session must be signed in (after FollowVerification).
func (s *Session) UpdateEmail(t testing.TB, email string) {
	t.Helper()
	page := s.post(t, s.applicationAction(t, "UPDATE_EMAIL", "kc-update-email-form"), url.Values{"email": {email}})
	if _, again := formAction(page.body, "kc-update-email-form"); again {
		t.Fatalf("kctest: new email %s refused: %s", email, pageErrors(page.body))
	}
	s.pendingEmail = email
}

// FollowEmailChange opens the link Keycloak mailed to the address given to UpdateEmail, which changes the
// account's email (a user event UPDATE_EMAIL); from then on the session uses the new address.
func (s *Session) FollowEmailChange(t testing.TB) {
	t.Helper()
	s.FollowMailTo(t, s.pendingEmail, time.Time{})
	s.Email, s.pendingEmail = s.pendingEmail, ""
}

// FollowMailTo opens the action link of the first mail to addr received after the given time in this browser
// and confirms what Keycloak asks to confirm, staying on Keycloak's pages (it ends at the dashboard, which
// does not run in tests).
func (s *Session) FollowMailTo(t testing.TB, addr string, after time.Time) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := s.realm.Mail.Wait(ctx, func(m smtpsink.Message) bool {
		return m.Received.After(after) && addressedTo(m, addr) && actionLink(m) != ""
	})
	if err != nil {
		t.Fatalf("kctest: no mail with an action link to %s: %v", addr, err)
	}
	c := *s.HTTP
	c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), s.realm.KC.URL) {
			return http.ErrUseLastResponse
		}
		return nil
	}
	for link := actionLink(m); strings.HasPrefix(link, s.realm.KC.URL); {
		resp, err := c.Get(link)
		if err != nil {
			t.Fatalf("kctest: mail link: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		link = proceedLink(string(body))
	}
}

// VerificationMail waits for the verification mail to the session's address.
func (s *Session) VerificationMail(t testing.TB) smtpsink.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := s.realm.Mail.Wait(ctx, func(m smtpsink.Message) bool {
		return addressedTo(m, s.Email) && actionLink(m) != ""
	})
	if err != nil {
		t.Fatalf("kctest: no verification mail for %s: %v", s.Email, err)
	}
	return m
}

// FollowVerification opens the link from the verification mail in the same browser, sets the password when
// Keycloak asks for it, and exchanges the resulting authorization code (with the PKCE verifier) for tokens,
// as the dashboard does.
func (s *Session) FollowVerification(t testing.TB) Token {
	t.Helper()
	link := actionLink(s.VerificationMail(t))
	page := s.get(t, link)
	for range 6 {
		if page.redirect != "" {
			return s.exchange(t, page.redirect)
		}
		if action, ok := formAction(page.body, "kc-passwd-update-form"); ok {
			page = s.post(t, action, url.Values{"password-new": {s.Password}, "password-confirm": {s.Password}})
			if _, again := formAction(page.body, "kc-passwd-update-form"); again {
				t.Fatalf("kctest: password for %s refused: %s", s.Email, pageErrors(page.body))
			}
			continue
		}
		if next := proceedLink(page.body); next != "" {
			page = s.get(t, next)
			continue
		}
		t.Fatalf("kctest: verification of %s stopped at %s:\n%s", s.Email, page.url, snippet(page.body))
	}
	t.Fatalf("kctest: verification of %s did not reach the redirect URI", s.Email)
	return Token{}
}

func (s *Session) exchange(t testing.TB, redirect string) Token {
	t.Helper()
	u, err := url.Parse(redirect)
	if err != nil {
		t.Fatal(err)
	}
	if e := u.Query().Get("error"); e != "" {
		t.Fatalf("kctest: authorization failed: %s: %s", e, u.Query().Get("error_description"))
	}
	if got := u.Query().Get("state"); got != s.state {
		t.Fatalf("kctest: state %q, want %q", got, s.state)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")},
		"redirect_uri": {s.realm.RedirectURIs[0]}, "client_id": {"dashboard"}, "code_verifier": {s.verifier}}
	tok, err := tokenRequest(context.Background(), s.realm.Issuer, form)
	if err != nil {
		t.Fatalf("kctest: code exchange: %v", err)
	}
	return tok
}

// ConfirmedUser signs a person up and verifies the email, returning the user id and the dashboard's tokens.
func (r *Realm) ConfirmedUser(t testing.TB, email, password, name string) (string, Token) {
	t.Helper()
	tok := r.SignUp(t, email, password, name).FollowVerification(t)
	return tok.Subject(), tok
}

// PasswordToken gets a real user token with the test-only client's password grant (the user must be
// verified and have a password).
func (r *Realm) PasswordToken(t testing.TB, email, password string) Token {
	t.Helper()
	tok, err := passwordGrant(context.Background(), r.Issuer, TestClientID, r.Secrets[TestClientID], email, password)
	if err != nil {
		t.Fatalf("kctest: password token for %s: %v", email, err)
	}
	return tok
}

// Refresh redeems tok's refresh token at the client that issued it (its azp: the dashboard, or the test-only
// client), as a browser session refreshes: the new tokens carry the user's attributes as they are now.
func (r *Realm) Refresh(t testing.TB, tok Token) Token {
	t.Helper()
	fresh, err := r.TryRefresh(tok)
	if err != nil {
		t.Fatalf("kctest: %v", err)
	}
	return fresh
}

// TryRefresh is Refresh returning Keycloak's refusal (a session it ended, say) as the error.
func (r *Realm) TryRefresh(tok Token) (Token, error) {
	claims, err := tok.Claims()
	if err != nil {
		return Token{}, fmt.Errorf("refresh: %w", err)
	}
	client, _ := claims["azp"].(string)
	form := url.Values{"grant_type": {"refresh_token"}, "client_id": {client}, "refresh_token": {tok.RefreshToken}}
	if secret := r.Secrets[client]; secret != "" {
		form.Set("client_secret", secret)
	}
	fresh, err := tokenRequest(context.Background(), r.Issuer, form)
	if err != nil {
		return Token{}, fmt.Errorf("refresh at %s: %w", client, err)
	}
	return fresh, nil
}

// UpdateProfile changes the user's own name through Keycloak's account API, as the account console does
// (a user event UPDATE_PROFILE).
func (r *Realm) UpdateProfile(t testing.TB, tok Token, firstName string) {
	t.Helper()
	if err := r.UpdateAccount(tok, map[string]any{"firstName": firstName}); err != nil {
		t.Fatal(err)
	}
}

// Account reads the user's own account representation (what the account console shows).
func (r *Realm) Account(tok Token) (map[string]any, error) {
	var acct map[string]any
	return acct, r.account(http.MethodGet, tok, nil, &acct)
}

// UpdateAccount reads the account, applies changes (top-level fields such as firstName, or "attributes")
// and posts it back, as the account console does. It returns Keycloak's refusal as an error.
func (r *Realm) UpdateAccount(tok Token, changes map[string]any) error {
	acct, err := r.Account(tok)
	if err != nil {
		return err
	}
	for k, v := range changes {
		acct[k] = v
	}
	return r.account(http.MethodPost, tok, acct, nil)
}

func (r *Realm) account(method string, tok Token, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, r.Issuer+"/account", body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("kctest: account %s: %w", method, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("kctest: account %s: HTTP %d: %s", method, resp.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

type page struct {
	url      string
	body     string
	redirect string // set when Keycloak redirected to the dashboard's redirect URI
}

func (s *Session) get(t testing.TB, u string) page {
	t.Helper()
	return s.do(t, http.MethodGet, u, nil)
}

func (s *Session) post(t testing.TB, u string, form url.Values) page {
	t.Helper()
	return s.do(t, http.MethodPost, u, form)
}

func (s *Session) do(t testing.TB, method, u string, form url.Values) page {
	t.Helper()
	p, status := s.send(t, method, u, form)
	if status >= 400 {
		t.Fatalf("kctest: %s %s: HTTP %d:\n%s", method, u, status, snippet(p.body))
	}
	return p
}

// doAllowing posts form like post, but returns an error page (4xx) instead of failing the test.
func (s *Session) doAllowing(t testing.TB, u string, form url.Values) page {
	t.Helper()
	p, _ := s.send(t, "POST", u, form)
	return p
}

// send sends one request and returns the page and its status (redirects are followed, except to the dashboard).
func (s *Session) send(t testing.TB, method, u string, form url.Values) (page, int) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := s.HTTP.Do(req)
	if err != nil {
		t.Fatalf("kctest: %s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	p := page{url: resp.Request.URL.String(), body: string(b)}
	if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 && s.realm.isRedirectURI(loc) {
		p.redirect = loc
	}
	return p, resp.StatusCode
}

var (
	formTagRE   = regexp.MustCompile(`(?s)<form\b[^>]*>`)
	actionRE    = regexp.MustCompile(`\baction="([^"]*)"`)
	errorSpanRE = regexp.MustCompile(`(?s)<(?:span|div)[^>]*(?:input-error|kc-feedback-text|pf-m-danger|alert-error)[^>]*>(.*?)</(?:span|div)>`)
	tagRE       = regexp.MustCompile(`<[^>]+>`)
	hrefRE      = regexp.MustCompile(`(?s)<a\b[^>]*href="([^"]+)"[^>]*>(.*?)</a>`)
	linkRE      = regexp.MustCompile(`/login-actions/action-token\?`)
)

// formAction finds the form with the given id and returns its (unescaped) action.
func formAction(body, id string) (string, bool) {
	for _, tag := range formTagRE.FindAllString(body, -1) {
		if !strings.Contains(tag, `id="`+id+`"`) {
			continue
		}
		if m := actionRE.FindStringSubmatch(tag); m != nil {
			return html.UnescapeString(m[1]), true
		}
	}
	return "", false
}

// proceedLink finds Keycloak's "click here to proceed" link on info pages.
func proceedLink(body string) string {
	for _, m := range hrefRE.FindAllStringSubmatch(body, -1) {
		text := strings.ToLower(tagRE.ReplaceAllString(m[2], ""))
		if strings.Contains(text, "proceed") || strings.Contains(text, "continue") || strings.Contains(text, "back to application") {
			return html.UnescapeString(m[1])
		}
	}
	return ""
}

func pageErrors(body string) string {
	var out []string
	for _, m := range errorSpanRE.FindAllStringSubmatch(body, -1) {
		if s := strings.TrimSpace(html.UnescapeString(tagRE.ReplaceAllString(m[1], ""))); s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return snippet(body)
	}
	return strings.Join(out, "; ")
}

func snippet(body string) string {
	text := strings.Join(strings.Fields(tagRE.ReplaceAllString(body, " ")), " ")
	return text[:min(len(text), 1500)]
}

func actionLink(m smtpsink.Message) string {
	for _, l := range m.Links() {
		if linkRE.MatchString(l) {
			return l
		}
	}
	return ""
}

func addressedTo(m smtpsink.Message, addr string) bool {
	for _, to := range m.To {
		if strings.EqualFold(to, addr) {
			return true
		}
	}
	return false
}

func passwordGrant(ctx context.Context, issuer, clientID, secret, user, password string) (Token, error) {
	form := url.Values{"grant_type": {"password"}, "client_id": {clientID}, "username": {user},
		"password": {password}, "scope": {"openid"}}
	if secret != "" {
		form.Set("client_secret", secret)
	}
	return tokenRequest(ctx, issuer, form)
}

func tokenRequest(ctx context.Context, issuer string, form url.Values) (Token, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, issuer+"/protocol/openid-connect/token",
		strings.NewReader(form.Encode()))
	if err != nil {
		return Token{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Token{}, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return Token{}, fmt.Errorf("token endpoint: HTTP %d: %s", resp.StatusCode, data)
	}
	var tok Token
	return tok, json.Unmarshal(data, &tok)
}

package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/connectedbbq/platform/dashboard/internal/session"
)

const (
	sessionCookie = "bbq_session"
	loginCookie   = "bbq_login"
	loginTTL      = 10 * time.Minute
	// refreshSkew refreshes an access token this long before it expires, so a proxied call never carries
	// a token that expires in flight.
	refreshSkew = 30 * time.Second
)

// handleLogin starts an authorization code flow with PKCE (S256), state and nonce. ?signup=1 opens
// Keycloak's registration page instead of the login page; ?returnTo= is a local path to land on.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	op, err := s.oidc.get(r.Context())
	if err != nil {
		s.log.ErrorContext(r.Context(), "identity provider unavailable", "err", err)
		s.metrics.logins.WithLabelValues("idp_unavailable").Inc()
		http.Error(w, "The sign-in service is not reachable. Please try again in a moment.", http.StatusServiceUnavailable)
		return
	}
	l := session.Login{
		State: session.RandomToken(24), Nonce: session.RandomToken(24), Verifier: oauth2.GenerateVerifier(),
		ReturnTo: localPath(r.URL.Query().Get("returnTo")), Created: time.Now(),
	}
	if err := s.codec.Write(w, r, loginCookie, l, loginTTL); err != nil {
		s.fail(w, r, "write login cookie", err)
		return
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(l.Verifier), oidc.Nonce(l.Nonce)}
	target := op.oauth2.AuthCodeURL(l.State, opts...)
	if r.URL.Query().Get("signup") != "" {
		target = strings.Replace(target, op.oauth2.Endpoint.AuthURL, op.registerURL, 1)
	}
	http.Redirect(w, r, target, http.StatusFound)
}

// handleCallback finishes the flow: checks state, redeems the code with the PKCE verifier, verifies the
// ID token (signature, issuer, audience, expiry) and its nonce, then opens the session.
func (s *Server) handleCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var l session.Login
	err := s.codec.Read(r, loginCookie, &l)
	s.codec.Clear(w, r, loginCookie)
	q := r.URL.Query()
	switch {
	case err != nil || time.Since(l.Created) > loginTTL:
		s.loginFailed(w, r, "no_login", "the sign-in took too long or started in another browser", err)
		return
	case q.Get("error") != "":
		s.loginFailed(w, r, "idp_error", "the sign-in was cancelled", fmt.Errorf("%s: %s", q.Get("error"), q.Get("error_description")))
		return
	case subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(l.State)) != 1:
		s.loginFailed(w, r, "bad_state", "the sign-in could not be verified", errors.New("state mismatch"))
		return
	}
	op, err := s.oidc.get(ctx)
	if err != nil {
		s.loginFailed(w, r, "idp_unavailable", "the sign-in service is not reachable", err)
		return
	}
	tok, err := op.oauth2.Exchange(s.oidc.ctx(ctx), q.Get("code"), oauth2.VerifierOption(l.Verifier))
	if err != nil {
		s.loginFailed(w, r, "exchange", "the sign-in could not be completed", err)
		return
	}
	sess, err := s.sessionFromToken(ctx, op, tok, l.Nonce)
	if err != nil {
		s.loginFailed(w, r, "bad_id_token", "the sign-in could not be verified", err)
		return
	}
	if err := s.codec.Write(w, r, sessionCookie, sess, s.cfg.SessionTTL); err != nil {
		s.fail(w, r, "write session cookie", err)
		return
	}
	s.metrics.logins.WithLabelValues("ok").Inc()
	s.log.InfoContext(ctx, "login", "sub", sess.Subject)
	http.Redirect(w, r, l.ReturnTo, http.StatusFound)
}

// sessionFromToken verifies the ID token in tok (and its nonce, when wantNonce is set) and builds a session.
func (s *Server) sessionFromToken(ctx context.Context, op *oidcReady, tok *oauth2.Token, wantNonce string) (*session.Session, error) {
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return nil, errors.New("token response has no id_token")
	}
	idt, err := op.verifier.Verify(s.oidc.ctx(ctx), raw)
	if err != nil {
		return nil, fmt.Errorf("verify id token: %w", err)
	}
	if wantNonce != "" && subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(wantNonce)) != 1 {
		return nil, errors.New("id token nonce mismatch")
	}
	var claims struct {
		Email string `json:"email"`
		Name  string `json:"name"`
	}
	if err := idt.Claims(&claims); err != nil {
		return nil, fmt.Errorf("id token claims: %w", err)
	}
	return &session.Session{
		Subject: idt.Subject, Email: claims.Email, Name: claims.Name, AccessToken: tok.AccessToken,
		RefreshToken: tok.RefreshToken, IDToken: raw, Expiry: tok.Expiry, CSRFToken: session.RandomToken(24),
		Created: time.Now(),
	}, nil
}

// current returns the request's session, refreshing its tokens when they are about to expire (the new
// cookie is set on w). It returns nil when there is no usable session; a dead one is cleared.
func (s *Server) current(w http.ResponseWriter, r *http.Request) *session.Session {
	var sess session.Session
	if err := s.codec.Read(r, sessionCookie, &sess); err != nil {
		if !errors.Is(err, http.ErrNoCookie) {
			s.codec.Clear(w, r, sessionCookie)
		}
		return nil
	}
	if time.Since(sess.Created) > s.cfg.SessionTTL {
		s.codec.Clear(w, r, sessionCookie)
		return nil
	}
	if time.Until(sess.Expiry) > refreshSkew {
		return &sess
	}
	fresh, err := s.refresh(r.Context(), &sess)
	if err != nil {
		s.log.InfoContext(r.Context(), "session ended: refresh failed", "sub", sess.Subject, "err", err)
		s.metrics.refreshes.WithLabelValues("failed").Inc()
		s.codec.Clear(w, r, sessionCookie)
		return nil
	}
	if err := s.codec.Write(w, r, sessionCookie, fresh, s.cfg.SessionTTL); err != nil {
		s.log.ErrorContext(r.Context(), "write refreshed session", "err", err)
		return nil
	}
	s.metrics.refreshes.WithLabelValues("ok").Inc()
	return fresh
}

func (s *Server) refresh(ctx context.Context, sess *session.Session) (*session.Session, error) {
	if sess.RefreshToken == "" {
		return nil, errors.New("no refresh token")
	}
	op, err := s.oidc.get(ctx)
	if err != nil {
		return nil, err
	}
	old := &oauth2.Token{RefreshToken: sess.RefreshToken, Expiry: time.Now().Add(-time.Second)}
	tok, err := op.oauth2.TokenSource(s.oidc.ctx(ctx), old).Token()
	if err != nil {
		return nil, fmt.Errorf("refresh: %w", err)
	}
	fresh := *sess
	fresh.AccessToken, fresh.Expiry = tok.AccessToken, tok.Expiry
	if tok.RefreshToken != "" {
		fresh.RefreshToken = tok.RefreshToken
	}
	if raw, ok := tok.Extra("id_token").(string); ok && raw != "" {
		if idt, err := op.verifier.Verify(s.oidc.ctx(ctx), raw); err == nil && idt.Subject == sess.Subject {
			fresh.IDToken = raw
			var c struct{ Email, Name string }
			if idt.Claims(&c) == nil {
				fresh.Email, fresh.Name = c.Email, c.Name
			}
		}
	}
	return &fresh, nil
}

// sessionInfo is what JavaScript may know about the session: never a token, but the CSRF token it must echo.
type sessionInfo struct {
	Authenticated bool      `json:"authenticated"`
	CSRFToken     string    `json:"csrfToken,omitempty"`
	User          *userInfo `json:"user,omitempty"`
	ExpiresAt     time.Time `json:"expiresAt,omitzero"`
}

type userInfo struct {
	ID    string `json:"id"`
	Email string `json:"email,omitempty"`
	Name  string `json:"name,omitempty"`
}

func (s *Server) handleSession(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	sess := s.current(w, r)
	if sess == nil {
		writeJSON(w, http.StatusOK, sessionInfo{})
		return
	}
	writeJSON(w, http.StatusOK, s.info(sess))
}

// sessionScript is /session's answer as a JSON data block for index.html, so that the app's first page does
// not wait for a round trip to ask it (the app reads it once, then asks /session). json.Marshal escapes <, >
// and &, so no value can end the element; a data block is not run, so the CSP's script-src still holds.
func (s *Server) sessionScript(w http.ResponseWriter, r *http.Request) []byte {
	info := sessionInfo{}
	if sess := s.current(w, r); sess != nil {
		info = s.info(sess)
	}
	b, err := json.Marshal(info)
	if err != nil {
		return nil
	}
	return fmt.Appendf(nil, `<script id="bbq-session" type="application/json">%s</script>`, b)
}

func (s *Server) info(sess *session.Session) sessionInfo {
	return sessionInfo{
		Authenticated: true, CSRFToken: sess.CSRFToken,
		User:      &userInfo{ID: sess.Subject, Email: sess.Email, Name: sess.Name},
		ExpiresAt: sess.Created.Add(s.cfg.SessionTTL),
	}
}

// handleRefresh renews the session's tokens now, so that the next API call carries the claims Keycloak holds
// now: the tenant switcher calls it after changing the default tenant. A POST with the CSRF token; the tokens
// stay in the cookie and the answer is the same as /session's.
func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	var sess session.Session
	if err := s.codec.Read(r, sessionCookie, &sess); err != nil || time.Since(sess.Created) > s.cfg.SessionTTL {
		writeProblem(w, http.StatusUnauthorized, "Not signed in", "Sign in to continue.")
		return
	}
	if !s.csrfOK(r, &sess, r.Header.Get("X-CSRF-Token")) {
		s.metrics.csrfRefused.Inc()
		writeProblem(w, http.StatusForbidden, "CSRF check failed", "The request did not come from this dashboard.")
		return
	}
	fresh, err := s.refresh(r.Context(), &sess)
	if err != nil {
		s.log.InfoContext(r.Context(), "session ended: refresh failed", "sub", sess.Subject, "err", err)
		s.metrics.refreshes.WithLabelValues("failed").Inc()
		s.codec.Clear(w, r, sessionCookie)
		writeProblem(w, http.StatusUnauthorized, "Session ended", "Sign in again to continue.")
		return
	}
	if err := s.codec.Write(w, r, sessionCookie, fresh, s.cfg.SessionTTL); err != nil {
		s.fail(w, r, "write refreshed session", err)
		return
	}
	s.metrics.refreshes.WithLabelValues("requested").Inc()
	writeJSON(w, http.StatusOK, s.info(fresh))
}

// handleLogout ends the local session and then Keycloak's (RP-initiated logout with id_token_hint).
// It is a POST carrying the CSRF token, so another site cannot log a person out.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	var sess session.Session
	err := s.codec.Read(r, sessionCookie, &sess)
	if err == nil && !s.csrfOK(r, &sess, r.PostFormValue("csrf_token")) {
		s.metrics.csrfRefused.Inc()
		http.Error(w, "Forbidden: missing or wrong CSRF token", http.StatusForbidden)
		return
	}
	s.codec.Clear(w, r, sessionCookie)
	home := s.cfg.PublicURL + "/"
	op, oerr := s.oidc.get(r.Context())
	if err != nil || oerr != nil || op.endSessionURL == "" {
		http.Redirect(w, r, home, http.StatusSeeOther)
		return
	}
	q := url.Values{"client_id": {s.cfg.ClientID}, "post_logout_redirect_uri": {home}}
	if sess.IDToken != "" {
		q.Set("id_token_hint", sess.IDToken)
	}
	s.log.InfoContext(r.Context(), "logout", "sub", sess.Subject)
	http.Redirect(w, r, op.endSessionURL+"?"+q.Encode(), http.StatusSeeOther)
}

// csrfOK accepts a state-changing request only from our own origin and with the session's CSRF token
// (double defence: the Origin/Sec-Fetch-Site check stops cross-site forms, the token stops everything else).
func (s *Server) csrfOK(r *http.Request, sess *session.Session, token string) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	if origin := r.Header.Get("Origin"); origin != "" && origin != s.origin {
		return false
	}
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(sess.CSRFToken)) == 1
}

func (s *Server) loginFailed(w http.ResponseWriter, r *http.Request, reason, msg string, err error) {
	s.metrics.logins.WithLabelValues(reason).Inc()
	s.log.WarnContext(r.Context(), "login failed", "reason", reason, "err", err)
	http.Redirect(w, r, "/?login_error="+url.QueryEscape(msg), http.StatusFound)
}

// localPath keeps returnTo on this site. The value is parsed and re-serialised: only a path (no scheme,
// host or user), never //host or /\host, and no backslash or control character in any of its decodings,
// since browsers strip tabs and newlines and read \ as / (so /<tab>/evil.example would leave the site).
// Anything else lands on /profile.
func localPath(p string) string {
	const home = "/profile"
	s := p
	for range maxDecodings {
		if !plainPath(s) {
			return home
		}
		next, err := url.PathUnescape(s)
		if err != nil {
			return home
		}
		if next == s {
			return reserialise(p, home)
		}
		s = next
	}
	return home // still decoding: too deeply encoded to be a link we made
}

// maxDecodings bounds the work on one returnTo value (each pass is linear in its length).
const maxDecodings = 8

// plainPath tells whether s starts with one slash and holds no backslash, control or invisible character.
func plainPath(s string) bool {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		return r == '\\' || unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)
	})
}

// reserialise rebuilds raw from its parts: the cleaned path, the query and the fragment.
func reserialise(raw, home string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return home
	}
	clean := path.Clean(u.Path)
	if strings.HasSuffix(u.Path, "/") && clean != "/" {
		clean += "/"
	}
	out := (&url.URL{Path: clean, RawQuery: u.Query().Encode(), Fragment: u.Fragment}).String()
	if !plainPath(out) {
		return home
	}
	return out
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.log.ErrorContext(r.Context(), what, slog.Any("err", err))
	http.Error(w, "Internal error", http.StatusInternalServerError)
}

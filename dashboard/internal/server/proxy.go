package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"
	"strings"

	"github.com/connectedbbq/platform/pkg/tracing"
)

// noTenantClaim is user-service's problem type for a token issued before the user's tenant was assigned
// (right after sign-up): a refreshed token carries the claim.
const noTenantClaim = "urn:bbq:problem:no-tenant-claim"

// apiProxy forwards /api/v1/* to user-service as /v1/* with the session's access token: the API's
// documented paths (api/openapi.yaml) and nothing else, so user-service's other routes stay out of reach;
// any other /api path is not found. Requests without a session get 401 JSON; state-changing ones also
// need the CSRF token. Cookies and any Authorization header from the browser are dropped, so a caller
// can only ever act as the session's user.
func (s *Server) apiProxy(target *url.URL) http.Handler {
	rp := &httputil.ReverseProxy{
		Transport: tenantRetry{next: tracing.Transport(s.tracer, http.DefaultTransport)},
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.URL.Path = singleJoin(target.Path, strings.TrimPrefix(pr.In.URL.Path, "/api"))
			pr.Out.URL.RawPath = ""
			pr.Out.Header.Del("Cookie")
			pr.Out.Header.Del("X-CSRF-Token")
			pr.Out.Header.Set("Authorization", "Bearer "+bearerFrom(pr.In))
			pr.SetXForwarded()
		},
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Del("Set-Cookie") // the API never sets cookies on our origin
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.log.ErrorContext(r.Context(), "user-service unreachable", "err", err)
			s.metrics.proxyErrors.WithLabelValues("api").Inc()
			writeProblem(w, http.StatusBadGateway, "User service unavailable", "The profile service is not reachable. Please try again in a moment.")
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if !apiPath(r.URL.Path) {
			writeProblem(w, http.StatusNotFound, "Not found", "There is no such API.")
			return
		}
		sess := s.current(w, r)
		if sess == nil {
			writeProblem(w, http.StatusUnauthorized, "Not signed in", "Sign in to continue.")
			return
		}
		if !safeMethod(r.Method) && !s.csrfOK(r, sess, r.Header.Get("X-CSRF-Token")) {
			s.metrics.csrfRefused.Inc()
			writeProblem(w, http.StatusForbidden, "CSRF check failed", "The request did not come from this dashboard.")
			return
		}
		ctx := withBearer(r.Context(), sess.AccessToken)
		ctx = context.WithValue(ctx, refresherKey{}, func() (string, error) {
			fresh, err := s.refresh(r.Context(), sess)
			if err != nil {
				return "", err
			}
			s.metrics.refreshes.WithLabelValues("tenant_claim").Inc()
			return fresh.AccessToken, s.codec.Write(w, r, sessionCookie, fresh, s.cfg.SessionTTL)
		})
		rp.ServeHTTP(w, r.WithContext(ctx))
	})
}

type refresherKey struct{}

// tenantRetry repeats a safe request once with refreshed tokens when user-service answers that the token
// predates the user's tenant. The refresher (from the request context) also stores the new session cookie;
// the reverse proxy has not written the response headers yet when the transport returns.
type tenantRetry struct{ next http.RoundTripper }

func (t tenantRetry) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	refresh, ok := req.Context().Value(refresherKey{}).(func() (string, error))
	if err != nil || !ok || resp.StatusCode != http.StatusForbidden || !safeMethod(req.Method) || req.ContentLength > 0 {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var p struct{ Type string }
	if err != nil || json.Unmarshal(body, &p) != nil || p.Type != noTenantClaim {
		return resp, nil //nolint:nilerr // not the problem we retry: the browser gets user-service's answer as it came
	}
	token, err := refresh()
	if err != nil {
		return resp, nil //nolint:nilerr // no fresh token: the browser gets the 403, and the session ends on its next refresh
	}
	retry := req.Clone(req.Context())
	retry.Body = http.NoBody // the first attempt closed the (empty) body
	retry.Header.Set("Authorization", "Bearer "+token)
	return t.next.RoundTrip(retry)
}

// authProxy forwards /auth/* to Keycloak unchanged (Keycloak runs with --http-relative-path=/auth), keeping
// the browser's Host and adding X-Forwarded-*, so the login pages and their links point back through us.
// Keycloak's admin console and the master realm are not exposed unless allowed.
func (s *Server) authProxy(target *url.URL) http.Handler {
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = target.Scheme, target.Host
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.log.ErrorContext(r.Context(), "keycloak unreachable", "err", err)
			s.metrics.proxyErrors.WithLabelValues("auth").Inc()
			http.Error(w, "The sign-in service is not reachable. Please try again in a moment.", http.StatusBadGateway)
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.cfg.ProxyAdmin && adminPath(r.URL.Path) {
			http.NotFound(w, r)
			return
		}
		rp.ServeHTTP(w, r)
	})
}

// apiPath tells whether p is /api/v1/... in its clean form, so no dot segment or doubled slash can turn
// it into another of user-service's paths.
func apiPath(p string) bool {
	return strings.HasPrefix(p, "/api/v1/") && path.Clean(p) == p
}

func adminPath(p string) bool {
	p = strings.ToLower(p)
	return strings.HasPrefix(p, "/auth/admin") || strings.HasPrefix(p, "/auth/realms/master")
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func singleJoin(a, b string) string {
	return strings.TrimRight(a, "/") + "/" + strings.TrimLeft(b, "/")
}

package server

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
)

// apiProxy forwards /api/* to user-service as /* with the session's access token. Requests without a
// session get 401 JSON; state-changing ones also need the CSRF token. Cookies and any Authorization header
// from the browser are dropped, so a caller can only ever act as the session's user.
func (s *Server) apiProxy(target *url.URL) http.Handler {
	rp := &httputil.ReverseProxy{
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
		rp.ServeHTTP(w, r.WithContext(withBearer(r.Context(), sess.AccessToken)))
	})
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

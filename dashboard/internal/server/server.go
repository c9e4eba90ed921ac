// Package server is the dashboard's HTTP server: the single-page app, the OIDC login against Keycloak,
// the session, and the /api (user-service) and /auth (Keycloak) proxies.
package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/connectedbbq/platform/dashboard/internal/config"
	"github.com/connectedbbq/platform/dashboard/internal/session"
	"github.com/connectedbbq/platform/pkg/ops"
	"github.com/connectedbbq/platform/pkg/tracing"
)

// contentSecurityPolicy allows only our own scripts, styles and API calls; Keycloak's pages under /auth
// keep Keycloak's own headers.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"

// Deps are the server's collaborators, wired by main.
type Deps struct {
	Log        *slog.Logger
	Codec      *session.Codec
	UI         fs.FS
	HTTPClient *http.Client
	Registry   *prometheus.Registry
	Tracer     trace.TracerProvider // traces /api and the proxied requests; nil: none
}

// Server serves the dashboard.
type Server struct {
	cfg     config.Config
	log     *slog.Logger
	codec   *session.Codec
	oidc    *oidcClient
	metrics *metrics
	origin  string
	handler http.Handler
	ops     http.Handler
	client  *http.Client
	tracer  trace.TracerProvider
}

// New builds the server and its routes.
func New(cfg config.Config, d Deps) (*Server, error) {
	pub, err := url.Parse(cfg.PublicURL)
	if err != nil {
		return nil, fmt.Errorf("public url: %w", err)
	}
	userSvc, err := url.Parse(cfg.UserServiceURL)
	if err != nil {
		return nil, fmt.Errorf("user service url: %w", err)
	}
	kc, err := url.Parse(cfg.KeycloakURL)
	if err != nil {
		return nil, fmt.Errorf("keycloak url: %w", err)
	}
	s := &Server{
		cfg: cfg, log: d.Log, codec: d.Codec, metrics: newMetrics(d.Registry),
		origin: pub.Scheme + "://" + pub.Host, client: d.HTTPClient, tracer: d.Tracer,
		oidc: &oidcClient{
			publicIssuer: cfg.OIDCIssuer, internalIssuer: cfg.InternalIssuer(),
			publicBase: cfg.KeycloakPublicBase(), internalBase: strings.TrimRight(cfg.KeycloakURL, "/"),
			clientID: cfg.ClientID, redirectURL: strings.TrimRight(cfg.PublicURL, "/") + "/login/callback",
			scopes: cfg.Scopes, httpClient: d.HTTPClient,
		},
	}
	mux := http.NewServeMux()
	// The probes and metrics are on the operations listener only; here they are not found (rather than
	// the app's index page, which every other unknown path gets).
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		mux.HandleFunc(p, http.NotFound)
	}
	mux.HandleFunc("GET /login", s.handleLogin)
	mux.HandleFunc("GET /login/callback", s.handleCallback)
	mux.HandleFunc("POST /logout", s.handleLogout)
	mux.HandleFunc("GET /session", s.handleSession)
	mux.HandleFunc("POST /session/refresh", s.handleRefresh)
	mux.Handle("/api/", tracing.Handler(d.Tracer, s.apiProxy(userSvc)))
	mux.Handle("/auth/", s.authProxy(kc))
	mux.Handle("/", spa(d.UI, s.sessionScript))
	s.handler = s.observe(mux)
	s.ops = ops.Handler(d.Registry,
		ops.Check{Name: "keycloak", Func: func(ctx context.Context) error { _, err := s.oidc.get(ctx); return err }},
		ops.Check{Name: "userService", Func: s.pingUserService})
	return s, nil
}

// Handler is the public root handler: the app, the login, /auth and /api.
func (s *Server) Handler() http.Handler { return s.handler }

// OpsHandler serves /healthz, /readyz and /metrics, for the operations listener (OPS_ADDR) only.
func (s *Server) OpsHandler() http.Handler { return s.ops }

// Discover tries the OIDC discovery now (the server also does it lazily on first use).
func (s *Server) Discover(ctx context.Context) error {
	_, err := s.oidc.get(ctx)
	return err
}

// pingUserService checks that user-service's API answers HTTP. Its probes are on its operations port, so
// this asks the API itself: an unauthenticated /v1/me gets a 401, which is an answer.
func (s *Server) pingUserService(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(s.cfg.UserServiceURL, "/")+"/v1/me", nil)
	if err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// observe adds security headers, metrics and an access log around every request.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		route := routeGroup(r.URL.Path)
		if route != "auth" {
			h := w.Header()
			h.Set("Content-Security-Policy", contentSecurityPolicy)
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
			h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
			h.Set("Cross-Origin-Opener-Policy", "same-origin")
			if s.codec.Secure() {
				h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
			}
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		elapsed := time.Since(start)
		s.metrics.requests.WithLabelValues(route, fmt.Sprint(rec.status)).Inc()
		s.metrics.duration.WithLabelValues(route).Observe(elapsed.Seconds())
		s.log.InfoContext(r.Context(), "http", "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"ms", elapsed.Milliseconds())
	})
}

func routeGroup(p string) string {
	switch {
	case strings.HasPrefix(p, "/api/"):
		return "api"
	case strings.HasPrefix(p, "/auth/"):
		return "auth"
	case strings.HasPrefix(p, "/login"), p == "/logout", strings.HasPrefix(p, "/session"):
		return "session"
	default:
		return "ui"
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer (flushes in the reverse proxy).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// spa serves the built app: real files as they are (hashed assets cached for a year), every other path
// gets index.html so client-side routes like /profile work on reload.
func spa(ui fs.FS, session func(http.ResponseWriter, *http.Request) []byte) http.Handler {
	files := http.FileServerFS(ui)
	index, _ := fs.ReadFile(ui, "index.html") // embedded: read once
	compressed := compressAssets(ui)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "Method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if st, err := fs.Stat(ui, name); name != "" && err == nil && !st.IsDir() {
			if strings.HasPrefix(name, "assets/") {
				w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
			}
			if !compressed.serve(w, r, name) {
				files.ServeHTTP(w, r)
			}
			return
		}
		if path.Ext(name) != "" && name != "index.html" {
			http.NotFound(w, r)
			return
		}
		page := withSession(index, session(w, r))
		w.Header().Set("Cache-Control", "no-store") // it carries the caller's session
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(page)))
		_, _ = w.Write(page)
	})
}

// withSession puts the session's data block into the page's head.
func withSession(index, script []byte) []byte {
	head := []byte("</head>")
	i := bytes.Index(index, head)
	if i < 0 || len(script) == 0 {
		return index
	}
	return slices.Concat(index[:i], script, index[i:])
}

type bearerKey struct{}

func withBearer(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, bearerKey{}, token)
}

func bearerFrom(r *http.Request) string {
	t, _ := r.Context().Value(bearerKey{}).(string)
	return t
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeProblem answers with an RFC 9457 problem, the same shape as user-service's errors.
func writeProblem(w http.ResponseWriter, status int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "about:blank", "title": title, "status": status, "detail": detail})
}

package cluster

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// person is someone who signed up before the pods were restarted, and the tenant user-service gave them.
type person struct {
	email, password, id, tenant string
}

// publicHost is the chart's default publicURL: the host the browser uses. The test's client sends it to the
// dashboard pod, as `kubectl port-forward svc/<release>-dashboard 3000` would.
const publicHost = "localhost:3000"

// podIP is the address of the ready pod of one component (the node reaches pod addresses directly).
func (k *kube) podIP(component string) string {
	k.t.Helper()
	for _, p := range k.pods() {
		if strings.HasPrefix(p.Metadata.Name, release+"-connected-bbq-"+component+"-") && p.ready() && p.Status.PodIP != "" {
			return p.Status.PodIP
		}
	}
	k.fatalf("no ready %s pod", component)
	return ""
}

func (k *kube) secretValue(name, key string) string {
	k.t.Helper()
	enc := k.run("kubectl", "get", "secret", "-n", namespace, name, "-o", "jsonpath={.data."+key+"}")
	b, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		k.fatalf("secret %s key %s: %v", name, key, err)
	}
	return string(b)
}

// createPerson makes a verified person with a password through Keycloak's admin API and waits until
// user-service has stored them: it writes their tenant into the Keycloak attribute `tenant`.
func (k *kube) createPerson(ctx context.Context) person {
	k.t.Helper()
	kc := &keycloakAdmin{base: "http://" + net.JoinHostPort(k.podIP("keycloak"), "8080") + "/auth",
		user:     k.secretValue(release+"-connected-bbq-keycloak-admin", "username"),
		password: k.secretValue(release+"-connected-bbq-keycloak-admin", "password")}
	p := person{email: fmt.Sprintf("restart-%d@example.com", time.Now().UnixNano()), password: "Restart-Passw0rd!"}
	user := map[string]any{"username": p.email, "email": p.email, "firstName": "Restart", "lastName": "Test",
		"enabled": true, "emailVerified": true,
		"credentials": []map[string]any{{"type": "password", "value": p.password, "temporary": false}}}
	loc, err := kc.do(ctx, http.MethodPost, "/admin/realms/bbq/users", user, nil)
	if err != nil {
		k.fatalf("create %s in Keycloak: %v", p.email, err)
	}
	p.id = loc[strings.LastIndex(loc, "/")+1:]
	for ctx.Err() == nil {
		var u struct{ Attributes map[string][]string }
		if _, err := kc.do(ctx, http.MethodGet, "/admin/realms/bbq/users/"+p.id, nil, &u); err != nil {
			k.fatalf("read %s from Keycloak: %v", p.email, err)
		}
		if t := u.Attributes["tenant"]; len(t) > 0 && t[0] != "" {
			p.tenant = t[0]
			return p
		}
		time.Sleep(2 * time.Second)
	}
	k.fatalf("user-service did not store %s (no tenant attribute in Keycloak): %v", p.email, ctx.Err())
	return p
}

// keycloakAdmin calls Keycloak's admin API with a fresh master-realm token each time (they live a minute).
type keycloakAdmin struct{ base, user, password string }

func (a *keycloakAdmin) do(ctx context.Context, method, path string, in, out any) (location string, err error) {
	form := url.Values{"grant_type": {"password"}, "client_id": {"admin-cli"}, "username": {a.user}, "password": {a.password}}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := call(ctx, http.DefaultClient, http.MethodPost, a.base+"/realms/master/protocol/openid-connect/token",
		"application/x-www-form-urlencoded", strings.NewReader(form.Encode()), "", &tok); err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return "", fmt.Errorf("encode: %w", err)
		}
		body = bytes.NewReader(b)
	}
	var resp http.Header
	err = callHeader(ctx, http.DefaultClient, method, a.base+path, "application/json", body, tok.AccessToken, out, &resp)
	return resp.Get("Location"), err
}

func call(ctx context.Context, c *http.Client, method, u, contentType string, body io.Reader, bearer string, out any) error {
	return callHeader(ctx, c, method, u, contentType, body, bearer, out, nil)
}

func callHeader(ctx context.Context, c *http.Client, method, u, contentType string, body io.Reader, bearer string,
	out any, header *http.Header) error {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, u, resp.Status, snippet(b))
	}
	if header != nil {
		*header = resp.Header
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode: %w", method, u, err)
		}
	}
	return nil
}

var loginForm = regexp.MustCompile(`<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"`)

// signIn signs p in as a browser does: the dashboard's /login, Keycloak's login form (served through the
// dashboard's /auth proxy), the callback, then the person's tenants from the API behind the dashboard.
func signIn(ctx context.Context, dashboardIP string, p person) ([]string, error) {
	jar, _ := cookiejar.New(nil)
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr != publicHost {
				return nil, fmt.Errorf("the browser would not reach %s", addr)
			}
			return dialer.DialContext(ctx, network, net.JoinHostPort(dashboardIP, "3000"))
		}}}
	base := "http://" + publicHost
	page, landed, err := fetch(ctx, c, http.MethodGet, base+"/login?returnTo=/profile", nil)
	if err != nil {
		return nil, fmt.Errorf("open the login page: %w", err)
	}
	m := loginForm.FindStringSubmatch(page)
	if m == nil {
		return nil, fmt.Errorf("no login form at %s: %s", landed, snippet([]byte(page)))
	}
	form := url.Values{"username": {p.email}, "password": {p.password}, "credentialId": {""}}
	page, landed, err = fetch(ctx, c, http.MethodPost, html.UnescapeString(m[1]), form)
	if err != nil {
		return nil, fmt.Errorf("post the login form: %w", err)
	}
	if landed != base+"/profile" {
		return nil, fmt.Errorf("after the login form landed on %s, not /profile: %s", landed, snippet([]byte(page)))
	}
	var mine struct {
		Tenants []struct{ ID string }
	}
	if err := call(ctx, c, http.MethodGet, base+"/api/v1/me/tenants", "", nil, "", &mine); err != nil {
		return nil, fmt.Errorf("the person's tenants: %w", err)
	}
	var ids []string
	for _, t := range mine.Tenants {
		ids = append(ids, t.ID)
	}
	return ids, nil
}

// fetch follows redirects and returns the final page and its URL.
func fetch(ctx context.Context, c *http.Client, method, u string, form url.Values) (string, string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return "", "", fmt.Errorf("request: %w", err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		return "", resp.Request.URL.String(), fmt.Errorf("%s: %s: %s", resp.Request.URL, resp.Status, snippet(b))
	}
	return string(b), resp.Request.URL.String(), nil
}

// signInUntil retries signIn while the restarted pods settle (a pod is ready before every peer is).
func (k *kube) signInUntil(ctx context.Context, p person) []string {
	k.t.Helper()
	var last error
	begin, tries := time.Now(), 0
	for ctx.Err() == nil {
		tenants, err := signIn(ctx, k.podIP("dashboard"), p)
		if err == nil {
			return tenants
		}
		tries++
		if last == nil || !errors.Is(err, context.DeadlineExceeded) { // the step's own deadline says nothing new
			last = err
		}
		k.t.Logf("sign-in %d of %s failed after %s: %v", tries, p.email, time.Since(begin).Round(time.Second), err)
		time.Sleep(3 * time.Second)
	}
	k.fatalf("%s could not sign in through the dashboard in %d tries over %s: %v", p.email, tries,
		time.Since(begin).Round(time.Second), last)
	return nil
}

// restartEveryPod deletes every pod of the namespace, waits until as many are ready again (all of them new:
// created after the deletion), and returns how long that took.
func (k *kube) restartEveryPod(ctx context.Context) time.Duration {
	k.t.Helper()
	n := len(k.pods())
	begin := time.Now()
	k.run("kubectl", "delete", "pods", "--all", "-n", namespace, "--wait=true", "--timeout=3m")
	for ctx.Err() == nil {
		pods, ready := k.pods(), 0
		for _, p := range pods {
			if p.ready() && p.Metadata.CreationTimestamp.After(begin.Add(-time.Second)) {
				ready++
			}
		}
		if ready >= n && len(pods) == n {
			return time.Since(begin)
		}
		time.Sleep(2 * time.Second)
	}
	k.fatalf("after deleting every pod, not all %d are ready again: %v", n, ctx.Err())
	return 0
}

func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

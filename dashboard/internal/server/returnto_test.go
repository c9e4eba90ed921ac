package server

import (
	"net/url"
	"strings"
	"testing"
)

// browserResolve resolves a Location header against base the way Chromium does: it strips tabs and
// newlines anywhere and leading/trailing C0 controls and spaces, and reads a backslash as a slash.
func browserResolve(t *testing.T, base *url.URL, loc string) *url.URL {
	t.Helper()
	loc = strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\n', '\r':
			return -1
		case '\\':
			return '/'
		}
		return r
	}, loc)
	loc = strings.TrimFunc(loc, func(r rune) bool { return r <= ' ' })
	u, err := base.Parse(loc)
	if err != nil {
		return &url.URL{Host: "unparseable"}
	}
	return u
}

func TestLocalPathKeepsReturnToOnSite(t *testing.T) {
	base, _ := url.Parse("https://dash.example/login")
	tests := []struct {
		name, query, want string // query: the returnTo value as it appears in the URL's query string
	}{
		{"plain path", "/profile", "/profile"},
		{"path with query and fragment", "/tenant%3Ftab%3Dmembers%23top", "/tenant?tab=members#top"},
		{"nested path", "/tenant/members", "/tenant/members"},
		{"empty", "", "/profile"},
		{"relative", "profile", "/profile"},
		{"absolute url", "https://evil.example/", "/profile"},
		{"scheme only", "javascript:alert(1)", "/profile"},
		{"protocol relative", "//evil.example/", "/profile"},
		{"encoded protocol relative", "%2F%2Fevil.example/", "/profile"},
		{"encoded second slash", "/%2Fevil.example/", "/profile"},
		{"double encoded second slash", "/%252Fevil.example/", "/profile"},
		// The four forms: a tab, a backslash, other control characters, and their encodings.
		{"tab (the issue)", "/%09/evil.example/", "/profile"},
		{"tab raw in value", "/\t/evil.example/", "/profile"},
		{"double encoded tab", "/%2509/evil.example/", "/profile"},
		{"triple encoded tab", "/%252509/evil.example/", "/profile"},
		{"backslash", `/\evil.example/`, "/profile"},
		{"encoded backslash", "/%5Cevil.example/", "/profile"},
		{"double encoded backslash", "/%255Cevil.example/", "/profile"},
		{"backslash later in path", `/a\b`, "/profile"},
		{"newline", "/%0A/evil.example/", "/profile"},
		{"carriage return", "/%0D/evil.example/", "/profile"},
		{"crlf header injection", "/%0D%0ASet-Cookie:%20x=1", "/profile"},
		{"nul", "/%00/evil.example/", "/profile"},
		{"escape char", "/%1B/evil.example/", "/profile"},
		{"delete char", "/%7F/evil.example/", "/profile"},
		{"c1 control", "/%C2%85/evil.example/", "/profile"},
		{"zero width space", "/%E2%80%8B/evil.example/", "/profile"},
		{"double encoded newline", "/%250A/evil.example/", "/profile"},
		{"leading space", "%20//evil.example/", "/profile"},
		{"malformed escape", "/%zz", "/profile"},
		{"invalid utf-8", "/%FF", "/profile"},
		{"userinfo trick", "/@evil.example", "/@evil.example"},
		{"dot segments", "/a/../profile", "/profile"},
		{"dot segment to double slash", "/.//evil.example/", "/evil.example/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery("returnTo=" + tt.query)
			if err != nil {
				q = url.Values{"returnTo": {tt.query}}
			}
			got := localPath(q.Get("returnTo"))
			if got != tt.want {
				t.Errorf("localPath(%q) = %q, want %q", q.Get("returnTo"), got, tt.want)
			}
			if u := browserResolve(t, base, got); u.Host != base.Host || u.Scheme != base.Scheme {
				t.Errorf("localPath(%q) = %q, which a browser follows to %s", q.Get("returnTo"), got, u)
			}
		})
	}
}

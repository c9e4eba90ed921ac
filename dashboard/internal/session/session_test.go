package session

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func newCodec(t *testing.T, secret byte) *Codec {
	t.Helper()
	c, err := NewCodec(bytes.Repeat([]byte{secret}, 32), false)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// roundTrip writes v as cookies and reads them back the way a browser would send them.
func roundTrip(t *testing.T, c *Codec, name string, v any, out any) ([]*http.Cookie, error) {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := c.Write(rec, httptest.NewRequest("GET", "/", nil), name, v, time.Hour); err != nil {
		t.Fatal(err)
	}
	cookies := rec.Result().Cookies()
	req := httptest.NewRequest("GET", "/", nil)
	for _, ck := range cookies {
		req.AddCookie(ck)
	}
	return cookies, c.Read(req, name, out)
}

func TestRoundTripChunked(t *testing.T) {
	c := newCodec(t, 1)
	// Random-looking tokens do not compress, so this needs more than one cookie.
	in := Session{Subject: "u1", AccessToken: RandomToken(3000), RefreshToken: RandomToken(1500), IDToken: RandomToken(1500)}
	var out Session
	cookies, err := roundTrip(t, c, "bbq_session", in, &out)
	if err != nil {
		t.Fatal(err)
	}
	if len(cookies) < 2 {
		t.Fatalf("want chunked cookies, got %d", len(cookies))
	}
	for _, ck := range cookies {
		if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || len(ck.String()) > 4096 {
			t.Errorf("cookie %s: httponly=%v samesite=%v len=%d", ck.Name, ck.HttpOnly, ck.SameSite, len(ck.String()))
		}
	}
	if out.AccessToken != in.AccessToken || out.IDToken != in.IDToken {
		t.Fatal("tokens changed in the round trip")
	}
}

func TestOpenRefuses(t *testing.T) {
	c := newCodec(t, 1)
	sealed, err := c.Seal("a", Session{Subject: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	tampered := []byte(sealed)
	tampered[len(tampered)/2] ^= 'A' ^ 'B'
	tests := []struct {
		name, cookie, value string
		codec               *Codec
	}{
		{"other key", "a", sealed, newCodec(t, 2)},
		{"other cookie name", "b", sealed, c},
		{"tampered", "a", string(tampered), c},
		{"garbage", "a", "!!", c},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Session
			if err := tt.codec.Open(tt.cookie, tt.value, &s); err == nil {
				t.Fatal("opened a cookie it must refuse")
			}
		})
	}
}

func TestWriteClearsStaleChunks(t *testing.T) {
	c := newCodec(t, 1)
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(&http.Cookie{Name: "s.1", Value: "old"})
	rec := httptest.NewRecorder()
	if err := c.Write(rec, req, "s", Session{Subject: "small"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	var cleared bool
	for _, ck := range rec.Result().Cookies() {
		if ck.Name == "s.1" && ck.MaxAge < 0 {
			cleared = true
		}
	}
	if !cleared {
		t.Fatal("stale chunk s.1 not cleared")
	}
	if !strings.HasPrefix(rec.Header().Get("Set-Cookie"), "s=") {
		t.Fatal("first chunk not set")
	}
}

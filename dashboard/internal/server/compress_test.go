package server

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"":                        false,
		"gzip":                    true,
		"gzip, deflate, br, zstd": true,
		"br;q=1.0, GZIP;q=0.5":    true,
		"*":                       true,
		"gzip;q=0":                false,
		"gzip; q=0.000":           false,
		"deflate, br":             false,
		"identity":                false,
		"x-gzip-not":              false,
	} {
		if got := acceptsGzip(header); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", header, got, want)
		}
	}
}

func TestAssetsAreServedGzippedToWhoAcceptsIt(t *testing.T) {
	script := strings.Repeat("console.log('smoky ribs');\n", 200)
	ui := fstest.MapFS{
		"index.html":      {Data: []byte("<html><head></head></html>")},
		"assets/app.js":   {Data: []byte(script)},
		"assets/logo.png": {Data: []byte("\x89PNG not text")},
	}
	srv := httptest.NewServer(spa(ui, func(http.ResponseWriter, *http.Request) []byte { return nil }))
	defer srv.Close()
	get := func(name, accept string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+name, nil)
		if accept != "" {
			req.Header.Set("Accept-Encoding", accept)
		}
		resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}

	resp, body := get("/assets/app.js", "gzip, br")
	if resp.Header.Get("Content-Encoding") != "gzip" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") ||
		resp.Header.Get("Vary") != "Accept-Encoding" || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
		t.Fatalf("headers %v", resp.Header)
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if plain, _ := io.ReadAll(zr); string(plain) != script || len(body) >= len(script)/4 {
		t.Fatalf("%d bytes gzipped, %d plain: not the script, or not smaller", len(body), len(plain))
	}

	resp, body = get("/assets/app.js", "")
	if resp.Header.Get("Content-Encoding") != "" || string(body) != script || resp.Header.Get("Vary") != "Accept-Encoding" {
		t.Fatalf("without Accept-Encoding: %v, %d bytes", resp.Header, len(body))
	}
	resp, body = get("/assets/logo.png", "gzip")
	if resp.Header.Get("Content-Encoding") != "" || string(body) != "\x89PNG not text" {
		t.Fatalf("an image is sent as it is: %v", resp.Header)
	}
}

package server

import (
	"bytes"
	"compress/gzip"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
)

// gzipped holds the app's text assets compressed, once at start-up: the embedded files never change, so
// no request pays for compressing them (the script is a third of its size gzipped, which a person on a slow
// line waits for on the first page after sign-up).
type gzipped map[string][]byte

func compressAssets(ui fs.FS) gzipped {
	g := gzipped{}
	_ = fs.WalkDir(ui, "assets", func(name string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && compressible(name) {
			if z, ok := gzipFile(ui, name); ok {
				g[name] = z
			}
		}
		return nil // a file that cannot be read is served as it is, or not at all, by the file server
	})
	return g
}

// gzipFile is the file compressed, when that makes it smaller.
func gzipFile(ui fs.FS, name string) ([]byte, bool) {
	raw, err := fs.ReadFile(ui, name)
	if err != nil {
		return nil, false
	}
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	_, _ = zw.Write(raw)
	if zw.Close() != nil || b.Len() >= len(raw) {
		return nil, false
	}
	return b.Bytes(), true
}

func compressible(name string) bool {
	switch path.Ext(name) {
	case ".js", ".css", ".svg", ".json", ".map", ".txt":
		return true
	}
	return false
}

// serve answers with the compressed file when there is one and the client accepts gzip.
func (g gzipped) serve(w http.ResponseWriter, r *http.Request, name string) bool {
	body, ok := g[name]
	if !ok {
		return false
	}
	w.Header().Add("Vary", "Accept-Encoding")
	if !acceptsGzip(r.Header.Get("Accept-Encoding")) {
		return false
	}
	h := w.Header()
	h.Set("Content-Encoding", "gzip")
	h.Set("Content-Type", mime.TypeByExtension(path.Ext(name)))
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
	return true
}

// acceptsGzip reads an Accept-Encoding header: gzip (or *) listed without q=0.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "*" {
			continue
		}
		q := strings.ReplaceAll(strings.ToLower(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}

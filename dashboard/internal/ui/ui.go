// Package ui holds the built single-page app. `make web` writes it into static/app (ignored by git);
// without it the server still builds and serves static/placeholder.html, which says how to build the UI.
package ui

import (
	"embed"
	"io/fs"
)

//go:embed all:static
var static embed.FS

// FS returns the built app, or the placeholder when the app has not been built, and whether it is built.
func FS() (fs.FS, bool) {
	app, err := fs.Sub(static, "static/app")
	if err == nil {
		if _, err := fs.Stat(app, "index.html"); err == nil {
			return app, true
		}
	}
	ph, _ := fs.Sub(static, "static/placeholder")
	return ph, false
}

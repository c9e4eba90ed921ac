package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInstall(t *testing.T) {
	dir := t.TempDir()
	jar := filepath.Join(dir, "p.jar")
	if err := os.WriteFile(jar, []byte("PK jar"), 0o600); err != nil {
		t.Fatal(err)
	}
	providers := filepath.Join(dir, "providers")
	if err := os.Mkdir(providers, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"installs", []string{jar, providers}, ""},
		{"again, over the old copy", []string{jar, providers}, ""},
		{"no arguments", nil, "usage"},
		{"missing jar", []string{filepath.Join(dir, "nope.jar"), providers}, "open provider"},
		{"missing directory", []string{jar, filepath.Join(dir, "nope")}, "providers directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(tt.args, &out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(providers, "p.jar"))
			if err != nil || string(got) != "PK jar" {
				t.Fatalf("installed %q, %v", got, err)
			}
			if left, _ := filepath.Glob(filepath.Join(providers, ".install-*")); len(left) > 0 {
				t.Fatalf("temporary files left: %v", left)
			}
		})
	}
}

// Command install-provider copies Keycloak provider jars into a providers directory. It is the entrypoint of
// the keycloak-provider image, which the chart runs as an init container of the official Keycloak image: the
// image holds nothing but this static binary and the jar, so it needs no shell and no base image.
//
//	install-provider <jar>... <providers dir>
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "install-provider:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	if len(args) < 2 {
		return errors.New("usage: install-provider <jar>... <providers dir>")
	}
	dir := args[len(args)-1]
	for _, src := range args[:len(args)-1] {
		dst := filepath.Join(dir, filepath.Base(src))
		n, err := install(src, dst)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "installed %s (%d bytes)\n", dst, n)
	}
	return nil
}

// install copies src to dst through a temporary file and a rename, so Keycloak never sees half a jar.
func install(src, dst string) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, fmt.Errorf("open provider: %w", err)
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".install-*")
	if err != nil {
		return 0, fmt.Errorf("providers directory: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // after the rename there is nothing left to remove
	n, err := io.Copy(tmp, in)
	if err == nil {
		err = tmp.Chmod(0o444)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		return 0, fmt.Errorf("install %s: %w", dst, err)
	}
	return n, nil
}

#!/usr/bin/env bash
# Tidies every go.mod of the workspace; with --check, changes nothing and fails when one is not tidy.
#
# A module that ships (pkg and the modules of the binaries) records only what its shipped code needs: its
# go.mod and go.sum are what `go mod tidy` writes for its packages without their tests and without its
# test-helper packages (those that import "testing"). Its tests still build, in the workspace (go.work),
# which holds the harnesses (testing/) and their modules: nats-server, go-smtp, kin-openapi... Plain `go mod
# tidy` in such a module would add the tests' modules back (and those of pkg's tests): use this script.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
check=false
[[ ${1:-} == --check ]] && check=true

# pkg first: the others require it, so its tidy go.mod is part of their module graph.
shipped="pkg services/idp-hook services/user-service services/tenant-controller dashboard deploy/keycloak/install-provider"
modules=$(go work edit -json | sed -n 's/.*"DiskPath": "\.\/\(.*\)".*/\1/p')

# strip <module> <tree>: copies the module's shipped files into <tree>/<module>.
strip() {
  local m=$1 tree=$2 f h helpers
  helpers=$(cd "$m" && go list -f '{{range .Imports}}{{if eq . "testing"}}{{$.Dir}}/{{end}}{{end}}' ./...)
  helpers=${helpers//"$PWD/$m/"/}
  while IFS= read -r f; do
    [[ $f == *_test.go || $f == */testdata/* || $f == testdata/* ]] && continue
    for h in $helpers; do [[ $f == "$h"* ]] && continue 2; done
    mkdir -p "$tree/$m/$(dirname "$f")" && cp "$m/$f" "$tree/$m/$f"
  done < <(cd "$m" && git ls-files -co --exclude-standard .)
}

# The shipped modules, stripped, beside the go.mod files of the others (their replace paths must resolve).
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
for m in $modules; do mkdir -p "$tree/$m" && cp "$m/go.mod" "$tree/$m/"; done
for m in $shipped; do strip "$m" "$tree"; done

fail=0
for m in $shipped; do
  (cd "$tree/$m" && touch go.sum && GOWORK=off GOFLAGS=-mod=mod go mod tidy)
  # A directory replace of a module the shipped code no longer requires goes with it.
  for old in $(sed -n 's/^replace \([^ ]*\) => \..*/\1/p' "$tree/$m/go.mod"); do
    grep -Eq "^(require)?[[:space:]]+$old v" "$tree/$m/go.mod" || (cd "$tree/$m" && go mod edit -dropreplace "$old")
  done
  [[ -s $tree/$m/go.sum ]] || rm "$tree/$m/go.sum"
  if ! $check; then
    cp "$tree/$m/go.mod" "$m/" && if [[ -f $tree/$m/go.sum ]]; then cp "$tree/$m/go.sum" "$m/"; fi
  elif ! d=$(diff -u "$m/go.mod" "$tree/$m/go.mod") || ! cmp -s <(cat "$m/go.sum" 2>/dev/null) <(cat "$tree/$m/go.sum" 2>/dev/null); then
    echo "tidy-modules: $m/go.mod or go.sum is not what its shipped code needs (run: scripts/tidy-modules.sh):"
    echo "$d" | head -30
    fail=1
  fi
done
for m in $modules; do
  [[ " $shipped " == *" $m "* ]] && continue
  if ! $check; then
    (cd "$m" && GOWORK=off go mod tidy)
  elif ! out=$(cd "$m" && GOWORK=off go mod tidy -diff 2>&1); then
    echo "tidy-modules: $m/go.mod is not tidy (run: scripts/tidy-modules.sh):"; echo "$out" | head -20; fail=1
  fi
done
exit "$fail"

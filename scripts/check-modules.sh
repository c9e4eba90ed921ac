#!/usr/bin/env bash
# `make lint`: each shipped binary must build from its own module alone (GOWORK=off, as scripts/images.sh builds
# the images) with the same module versions as the workspace (go.work) that the tests use. Fails on a module
# whose go.mod is not tidy, or whose binary would link other versions than the ones tested.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# <module dir>:<main package> for every binary we ship (scripts/images.sh).
binaries=(
  services/idp-hook:.
  services/user-service:.
  services/tenant-controller:./cmd
  dashboard:.
  deploy/keycloak/install-provider:.
)
# Every module, to be tidy: a go.mod that lists less (or more) than its packages need hides what ships. The
# modules that ship list only what their shipped code needs; their tests' modules come from the workspace.
fail=0
scripts/tidy-modules.sh --check || fail=1
for m in pkg $(printf '%s\n' "${binaries[@]%%:*}"); do
  if found=$(grep -E 'nats-io/nats-server|emersion/go-smtp|connectedbbq/platform/testing' "$m/go.mod"); then
    echo "check-modules: $m/go.mod requires a module only tests need (the harnesses live in testing/):"; echo "$found"; fail=1
  fi
done

# deps <module dir> <package> [GOWORK value]: "module version" of every module the package's build links; our own
# modules (workspace members, or replaced by a directory when alone) print as "local".
deps() {
  local f='{{with .Module}}{{.Path}} {{if .Main}}local{{else if .Replace}}{{with .Replace}}{{if .Version}}{{.Path}}@{{.Version}}{{else}}local{{end}}{{end}}{{else}}{{.Version}}{{end}}{{end}}'
  (cd "$1" && GOWORK=${3:-} GOFLAGS=-mod=readonly go list -deps -f "$f" "$2") | sort -u
}
for b in "${binaries[@]}"; do
  m=${b%%:*} pkg=${b#*:}
  work=$(deps "$m" "$pkg") || { echo "check-modules: $m $pkg does not build in the workspace"; fail=1; continue; }
  alone=$(deps "$m" "$pkg" off) || { echo "check-modules: $m $pkg does not build alone (GOWORK=off)"; fail=1; continue; }
  if [[ $work != "$alone" ]]; then
    echo "check-modules: $m ($pkg) links other versions alone than in the workspace (< go.work, > GOWORK=off):"
    diff <(echo "$work") <(echo "$alone") | grep '^[<>]' || true
    echo "  fix: cd $m && go get$(diff <(echo "$work") <(echo "$alone") | sed -n 's/^< \([^ ]*\) \(v.*\)/ \1@\2/p' | tr -d '\n') && cd - && scripts/tidy-modules.sh"
    fail=1
  fi
done
if ((fail == 0)); then echo "check-modules: ${#binaries[@]} binaries link the workspace's versions; every go.mod is tidy; no shipped go.mod requires a test's module"; fi
exit "$fail"

#!/usr/bin/env bash
# Installs pinned Go tools (scripts/versions.sh) into $BBQ_CACHE/bin (on PATH in make); idempotent.
#   scripts/tools.sh [name...]   default: what make lint, generate, bench and vulncheck use
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/versions.sh"
export GOBIN=${GOBIN:-${BBQ_CACHE:-$HOME/.cache/connected-bbq}/bin}
export GOWORK=off
mkdir -p "$GOBIN"
names=("$@")
((${#names[@]})) || names=(buf protoc-gen-go protoc-gen-jsonschema golangci-lint benchstat govulncheck promtool helm-docs)
for name in "${names[@]}"; do
  var=GO_TOOL_${name^^} var=${var//-/_}
  pkg=${!var:?"no pin for $name in scripts/versions.sh ($var)"}
  if [[ -x $GOBIN/$name && -f $GOBIN/.$name.version && $(cat "$GOBIN/.$name.version") == "$pkg" ]]; then continue; fi
  echo "installing $pkg" >&2
  go install "$pkg"
  echo "$pkg" >"$GOBIN/.$name.version"
done

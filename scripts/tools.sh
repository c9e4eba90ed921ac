#!/usr/bin/env bash
# Installs the Go tools the Makefile uses into $BBQ_CACHE/bin (on PATH in make). Idempotent and pinned.
set -euo pipefail
export GOBIN=${GOBIN:-${BBQ_CACHE:-$HOME/.cache/connected-bbq}/bin}
export GOWORK=off
mkdir -p "$GOBIN"
tools=(
  buf=github.com/bufbuild/buf/cmd/buf@v1.50.0
  protoc-gen-go=google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.6
  golangci-lint=github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.5.0
  benchstat=golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
  govulncheck=golang.org/x/vuln/cmd/govulncheck@v1.9.0
)
for entry in "${tools[@]}"; do
  name=${entry%%=*} pkg=${entry#*=}
  if [[ -x $GOBIN/$name && -f $GOBIN/.$name.version && $(cat "$GOBIN/.$name.version") == "$pkg" ]]; then continue; fi
  echo "installing $pkg" >&2
  go install "$pkg"
  echo "$pkg" >"$GOBIN/.$name.version"
done

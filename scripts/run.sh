#!/usr/bin/env bash
# `make run`: everything on this machine. Installs what is missing first (idempotent, cached).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export BBQ_CACHE=${BBQ_CACHE:-$HOME/.cache/connected-bbq}
# Only what the running system needs: the test-only setups (Kubernetes test binaries, schemathesis) stay out.
scripts/setup-system.sh postgresql ca-certificates
for setup in scripts/setup-keycloak.sh scripts/setup-dashboard.sh; do bash "$setup" >&2; done
make -s web >&2 # the dashboard's SPA, embedded into its Go server
# Built, then exec'd (not `go run`): Ctrl-C reaches bbq-dev alone, which stops everything and exits 0.
go build -o "$BBQ_CACHE/bin/bbq-dev" ./dev/cmd/bbq-dev
exec "$BBQ_CACHE/bin/bbq-dev" "$@"

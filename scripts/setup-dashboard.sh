#!/usr/bin/env bash
# Installs what the dashboard's tests need on a fresh Debian machine; safe to run again.
#   scripts/setup-dashboard.sh          npm packages (cached under $BBQ_CACHE/npm), the Keycloak distribution
#   scripts/setup-dashboard.sh --e2e    also Debian's Chromium for the Playwright journey
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${BBQ_CACHE:=$HOME/.cache/connected-bbq}"
export npm_config_cache="$BBQ_CACHE/npm" npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

log() { printf 'setup-dashboard: %s\n' "$*" >&2; }

# Node.js and npm come with the machine; Vite 8 needs npm 11's resolution of optional native packages.
command -v node >/dev/null || { log "node is missing (apt-get install nodejs npm)"; exit 1; }
log "node $(node --version), npm $(npm --version)"

lock="$ROOT/dashboard/web/package-lock.json"
stamp="$ROOT/dashboard/web/node_modules/.package-lock.json"
if [[ ! -f "$stamp" || "$lock" -nt "$stamp" ]]; then
  log "npm ci in dashboard/web"
  (cd "$ROOT/dashboard/web" && npm ci --no-audit --no-fund --loglevel=error)
  touch "$stamp"
fi

# Build the SPA into the Go server's embed folder, so `go build ./dashboard` (make run) serves the real app.
log "building the web app"
(cd "$ROOT/dashboard/web" && npm run --silent build >/dev/null)

# The Go server tests start a real Keycloak.
"$ROOT/deploy/keycloak/scripts/keycloak.sh" fetch >/dev/null

if [[ "${1:-}" == "--e2e" ]]; then
  if ! command -v chromium >/dev/null; then
    log "installing Debian's chromium"
    export DEBIAN_FRONTEND=noninteractive
    if [[ $(id -u) -eq 0 ]]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
  fi
  log "$(chromium --version)"
fi
log "done"

#!/usr/bin/env bash
# Keycloak for the tests and `make run`: download the pinned distribution (once, cached), build our
# provider, and augment Keycloak once so every start is --optimized.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
deploy/keycloak/scripts/keycloak.sh setup >/dev/null

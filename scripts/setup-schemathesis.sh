#!/usr/bin/env bash
# schemathesis (from PyPI) fuzzes the user service's API from its OpenAPI document in the attack
# suite. Installed once into a virtualenv in the cache.
set -euo pipefail
VENV=${BBQ_CACHE:-$HOME/.cache/connected-bbq}/venv-schemathesis
source "$(dirname "${BASH_SOURCE[0]}")/versions.sh"
VERSION=$SCHEMATHESIS_VERSION HYPOTHESIS=$HYPOTHESIS_VERSION
if [[ -x $VENV/bin/schemathesis && $(cat "$VENV/.version" 2>/dev/null) == "$VERSION+$HYPOTHESIS" ]]; then exit 0; fi
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q "schemathesis==$VERSION" "hypothesis==$HYPOTHESIS"
echo "$VERSION+$HYPOTHESIS" >"$VENV/.version"

#!/usr/bin/env bash
# Fails when a file that has to repeat a pin of scripts/versions.sh (a format that cannot source it) says
# another version. Run by make lint.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/versions.sh
failed=0
expect() { # file, what it pins, the pin
  local got
  got=$(sed -n "$2" "$1" | head -n1)
  [[ $got == "$3" ]] && return
  echo "check-versions: $1 pins ${got:-nothing}, scripts/versions.sh says $3" >&2
  failed=1
}
expect deploy/keycloak/provider/pom.xml 's|.*<keycloak.version>\(.*\)</keycloak.version>.*|\1|p' "$KEYCLOAK_VERSION"
expect deploy/helm/connected-bbq/values.yaml '/^keycloak:/,/^[a-z]/s/^    tag: "\(.*\)"/\1/p' "$KEYCLOAK_VERSION"
expect deploy/helm/connected-bbq/crds/platform.connectedbbq.dev_tenants.yaml \
  's/.*controller-gen.kubebuilder.io\/version: \(.*\)/\1/p' "${GO_TOOL_CONTROLLER_GEN##*@}"
exit $failed

#!/usr/bin/env bash
# Installs what the chart and tenant-controller tests need, pinned, into $BBQ_CACHE (idempotent):
# helm and kube-score from the Go module proxy (scripts/tools.sh), and a kube-apiserver + etcd built from Go modules
# (scripts/k8s-test-binaries.sh). Prints nothing on a warm cache but the envtest assets directory.
# Cold, on 2 cores: ~5 min for the tools, ~8 min for the API server. CONTROLLER_GEN=1 also installs
# controller-gen (only `make tenant-controller-generate` needs it).
set -euo pipefail
export BBQ_CACHE=${BBQ_CACHE:-$HOME/.cache/connected-bbq}
export GOBIN=$BBQ_CACHE/bin
export GOWORK=off
mkdir -p "$GOBIN"
# One install at a time (make -j runs test-helm and test-tenant-controller together).
exec 9>"$BBQ_CACHE/.setup-helm.lock"
flock 9
tools=(helm kube-score)
if [[ ${CONTROLLER_GEN:-} == 1 ]]; then tools+=(controller-gen); fi
"$(dirname "$0")/tools.sh" "${tools[@]}"
"$(dirname "$0")/k8s-test-binaries.sh"

#!/usr/bin/env bash
# Installs what the chart and tenant-controller tests need, pinned, into $BBQ_CACHE (idempotent):
# helm and kube-score from the Go module proxy, and a kube-apiserver + etcd built from Go modules
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
tools=(
  helm=helm.sh/helm/v4/cmd/helm@v4.3.1
  kube-score=github.com/zegl/kube-score/cmd/kube-score@v1.20.0
)
if [[ ${CONTROLLER_GEN:-} == 1 ]]; then tools+=(controller-gen=sigs.k8s.io/controller-tools/cmd/controller-gen@v0.21.0); fi
for entry in "${tools[@]}"; do
  name=${entry%%=*} pkg=${entry#*=}
  if [[ -x $GOBIN/$name && -f $GOBIN/.$name.version && $(cat "$GOBIN/.$name.version") == "$pkg" ]]; then continue; fi
  echo "installing $pkg" >&2
  go install "$pkg"
  echo "$pkg" >"$GOBIN/.$name.version"
done
"$(dirname "$0")/k8s-test-binaries.sh"

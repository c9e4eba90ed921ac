#!/usr/bin/env bash
# Installs what the chart and tenant-controller tests need, pinned, into $BBQ_CACHE (idempotent):
# helm, kube-score and controller-gen from the Go module proxy, and a kube-apiserver + etcd built from Go
# modules (scripts/k8s-test-binaries.sh). Prints nothing on a warm cache but the envtest assets directory.
set -euo pipefail
export BBQ_CACHE=${BBQ_CACHE:-$HOME/.cache/connected-bbq}
export GOBIN=$BBQ_CACHE/bin
export GOWORK=off
mkdir -p "$GOBIN"
tools=(
  helm=helm.sh/helm/v4/cmd/helm@v4.3.1
  kube-score=github.com/zegl/kube-score/cmd/kube-score@v1.20.0
  controller-gen=sigs.k8s.io/controller-tools/cmd/controller-gen@v0.21.0
)
for entry in "${tools[@]}"; do
  name=${entry%%=*} pkg=${entry#*=}
  if [[ -x $GOBIN/$name && -f $GOBIN/.$name.version && $(cat "$GOBIN/.$name.version") == "$pkg" ]]; then continue; fi
  echo "installing $pkg" >&2
  go install "$pkg"
  echo "$pkg" >"$GOBIN/.$name.version"
done
"$(dirname "$0")/k8s-test-binaries.sh"

#!/usr/bin/env bash
# `make images`: our five images, from binaries compiled on this machine onto an empty base (build/Containerfile,
# deploy/keycloak/Containerfile), with docker or podman, whichever works here. Nothing is pulled, so it also works offline.
#   IMAGE_REGISTRY (ghcr.io/connectedbbq), IMAGE_TAG (the chart's appVersion), GOARCH (this machine's)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
: "${IMAGE_REGISTRY:=ghcr.io/connectedbbq}"
: "${IMAGE_TAG:=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}/\1/p' deploy/helm/connected-bbq/Chart.yaml)}"
certs=/etc/ssl/certs/ca-certificates.crt

builder=${IMAGE_BUILDER:-}
if [[ -z $builder ]]; then
  for b in podman docker; do
    if command -v "$b" >/dev/null && "$b" info >/dev/null 2>&1; then builder=$b; break; fi
  done
fi
[[ -n $builder ]] || { echo "make images: neither podman nor docker works here (apt-get install podman)" >&2; exit 1; }
[[ -f $certs ]] || { echo "make images: $certs is missing (apt-get install ca-certificates)" >&2; exit 1; }

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT

# image <name> <containerfile> <context dir>
image() {
  "$builder" build -q -f "$PWD/$2" --label org.opencontainers.image.version="$IMAGE_TAG" \
    --label org.opencontainers.image.source=https://github.com/connectedbbq/platform \
    -t "$IMAGE_REGISTRY/$1:$IMAGE_TAG" "$3" >/dev/null
  echo "$IMAGE_REGISTRY/$1:$IMAGE_TAG"
}

# gobuild <module dir> <package> <output>: from the module alone (GOWORK=off), the versions its go.mod selects;
# scripts/check-modules.sh (make lint) checks that these are the versions the workspace tests.
gobuild() { (cd "$1" && GOWORK=off CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$3" "$2"); }

# service <name> <module dir> <package>
service() {
  mkdir -p "$ctx/$1"
  gobuild "$2" "$3" "$ctx/$1/app"
  cp "$certs" "$ctx/$1/ca-certificates.crt"
  image "$1" build/Containerfile "$ctx/$1"
}

make -s web >&2 # the dashboard embeds the SPA
service idp-hook services/idp-hook .
service user-service services/user-service .
service tenant-controller services/tenant-controller ./cmd
service dashboard dashboard .

mkdir -p "$ctx/keycloak-provider"
deploy/keycloak/scripts/keycloak.sh build-provider >/dev/null
install -m 0444 deploy/keycloak/provider/target/bbq-keycloak-provider.jar "$ctx/keycloak-provider/"
gobuild deploy/keycloak/install-provider . "$ctx/keycloak-provider/install-provider"
image keycloak-provider deploy/keycloak/Containerfile "$ctx/keycloak-provider"

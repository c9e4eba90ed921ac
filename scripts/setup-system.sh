#!/usr/bin/env bash
# Installs the Debian packages the system and its tests use, when missing (idempotent; instant when present).
#   scripts/setup-system.sh [package...]   default: everything `make test` needs
# Postgres (embedded by the tests and `make run`), Chromium (the dashboard journey), podman + runc (the images),
# iproute2, curl and CA certificates.
set -euo pipefail
packages=("$@")
((${#packages[@]})) || packages=(postgresql chromium iproute2 iptables curl ca-certificates openssl podman runc containerd containernetworking-plugins conntrack debootstrap)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
((${#missing[@]})) || exit 0
sudo=""; [[ $(id -u) == 0 ]] || sudo="sudo"
echo "setup-system: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

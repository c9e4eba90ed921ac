#!/usr/bin/env bash
# Builds stand-ins for the chart's third-party images (NATS, Postgres, Keycloak, mailpit, the test pod's curl)
# and for the local cluster's CoreDNS (scripts/cluster.sh), where no registry can be reached. They are NOT the vendors' images:
# the same programs, assembled here from the Go module proxy, Debian's packages and the Keycloak zip, with the
# interface the chart relies on (entrypoint, env, paths, any uid, read-only root). Tagged localhost/standin/*.
#
# Usage: scripts/standin-images.sh            # build what is missing (podman), print the image names
# Env:   BBQ_CACHE (default ~/.cache/connected-bbq), KEYCLOAK_HOME (default: the distribution setup-keycloak.sh fetched)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${BBQ_CACHE:-$HOME/.cache/connected-bbq}
work=$cache/standin
mkdir -p "$work"
source "$root/scripts/podman.sh"
source "$root/scripts/versions.sh"

nats_version=$(cd "$root/pkg" && go list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2)
mailpit_version=$MAILPIT_VERSION
keycloak_version=$("$root/deploy/keycloak/scripts/keycloak.sh" version)
keycloak_home=${KEYCLOAK_HOME:-$cache/keycloak/$keycloak_version/keycloak-$keycloak_version}
pg_major=15
declare -A image=(
  [nats]=localhost/standin/nats:${nats_version#v}
  [postgres]=localhost/standin/postgres:$pg_major-$(sha256sum "$root/build/standin/postgres-entrypoint.sh" | cut -c1-8)
  [keycloak]=localhost/standin/keycloak:$keycloak_version
  [mailpit]=localhost/standin/mailpit:${mailpit_version#v}
  [curl]=localhost/standin/curl:bookworm
  [coredns]=localhost/standin/coredns:${COREDNS_VERSION#v}
)
have() { podman image exists "$1"; }

# A static Go program on an empty base, as our own images are.
go_image() { # name tag package@version binary
  local name=$1 tag=$2 pkg=$3 bin=$4 dir=$work/$1
  have "$tag" && return
  rm -rf "$dir" && mkdir -p "$dir/rootfs/usr/local/bin" "$dir/rootfs/tmp"
  (cd "$dir" && printf 'module standin\n\ngo 1.25.0\n' > go.mod &&
    GOFLAGS=-mod=mod CGO_ENABLED=0 GOBIN=$dir/rootfs/usr/local/bin go install -trimpath -ldflags=-s "$pkg")
  chmod 1777 "$dir/rootfs/tmp"
  tar -C "$dir/rootfs" -c . | podman import -q --change "ENTRYPOINT [\"/usr/local/bin/$bin\"]" \
    --change "ENV PATH=/usr/local/bin" --change "USER 65532" - "$tag" >/dev/null
}

# A Debian root filesystem (debootstrap, cached) with packages added in a chroot.
debian_rootfs() { # dir packages...
  local dir=$1; shift
  local base=$work/debian-bookworm.tar
  if [ ! -s "$base" ]; then
    local tmp; tmp=$(mktemp -d)
    debootstrap --variant=minbase bookworm "$tmp" http://deb.debian.org/debian >/dev/null
    tar -C "$tmp" -cf "$base.part" . && mv "$base.part" "$base" && rm -rf "$tmp"
  fi
  rm -rf "$dir" && mkdir -p "$dir" && tar -C "$dir" -xf "$base"
  if (($#)); then
    mount -t proc proc "$dir/proc"
    trap 'umount "'"$dir"'/proc" 2>/dev/null || true' RETURN
    cp /etc/resolv.conf "$dir/etc/resolv.conf"
    chroot "$dir" sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $* && apt-get clean && rm -rf /var/lib/apt/lists/*" >"$work/apt.log" 2>&1
  fi
}

debian_image() { # tag dir changes...
  local tag=$1 dir=$2; shift 2
  local args=()
  for c in "$@"; do args+=(--change "$c"); done
  tar -C "$dir" -c . | podman import -q "${args[@]}" - "$tag" >/dev/null
  rm -rf "$dir"
}

go_image nats "${image[nats]}" "github.com/nats-io/nats-server/v2@$nats_version" nats-server
go_image mailpit "${image[mailpit]}" "github.com/axllent/mailpit@$mailpit_version" mailpit
go_image coredns "${image[coredns]}" "github.com/coredns/coredns@$COREDNS_VERSION" coredns

if ! have "${image[postgres]}"; then
  dir=$work/postgres
  debian_rootfs "$dir" "postgresql-$pg_major" libnss-wrapper
  install -m 0755 "$root/build/standin/postgres-entrypoint.sh" "$dir/usr/local/bin/docker-entrypoint.sh"
  mkdir -p "$dir/var/lib/postgresql/data" "$dir/var/run/postgresql" && chmod 1777 "$dir/var/lib/postgresql/data" "$dir/var/run/postgresql"
  debian_image "${image[postgres]}" "$dir" "ENTRYPOINT [\"/usr/local/bin/docker-entrypoint.sh\"]" \
    "ENV PATH=/usr/lib/postgresql/$pg_major/bin:/usr/local/bin:/usr/bin:/bin" "ENV PGDATA=/var/lib/postgresql/data" "USER 999"
fi

if ! have "${image[keycloak]}"; then
  [ -x "$keycloak_home/bin/kc.sh" ] || { echo "no Keycloak in $cache/keycloak: run scripts/setup-keycloak.sh" >&2; exit 1; }
  dir=$work/keycloak
  debian_rootfs "$dir" openjdk-17-jre-headless
  mkdir -p "$dir/opt/keycloak" && cp -a "$keycloak_home/." "$dir/opt/keycloak/"
  rm -rf "$dir/opt/keycloak/data" "$dir/opt/keycloak/providers"/* && mkdir -p "$dir/opt/keycloak/data"
  debian_image "${image[keycloak]}" "$dir" "ENTRYPOINT [\"/opt/keycloak/bin/kc.sh\"]" \
    "ENV PATH=/usr/local/bin:/usr/bin:/bin" "USER 1000"
fi

if ! have "${image[curl]}"; then
  dir=$work/curl
  debian_rootfs "$dir" curl ca-certificates
  debian_image "${image[curl]}" "$dir" "ENV PATH=/usr/local/bin:/usr/bin:/bin" "USER 65532"
fi

for k in nats postgres keycloak mailpit curl coredns; do echo "$k=${image[$k]}"; done

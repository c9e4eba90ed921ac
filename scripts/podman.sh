# Sourced by the scripts that run podman: runc with cgroupfs (these machines have hybrid cgroups, which crun
# refuses, and no systemd) and no default rlimits (which a sandbox may not raise). test/images does the same in Go.
export CONTAINERS_CONF=${BBQ_CACHE:-$HOME/.cache/connected-bbq}/podman/containers.conf
mkdir -p "$(dirname "$CONTAINERS_CONF")"
printf '[containers]\ndefault_ulimits = []\n' >"$CONTAINERS_CONF"
podman() { command podman --runtime runc --cgroup-manager cgroupfs "$@"; }

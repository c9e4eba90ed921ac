#!/usr/bin/env bash
# Builds a real kube-apiserver and etcd from Go modules (no binary downloads are possible here) for
# controller-runtime's envtest and for installing the chart into a real API server.
# With "cluster" it also builds what a whole node needs (scripts/cluster.sh): kube-controller-manager,
# kube-scheduler, kubelet, kube-proxy and kubectl.
# Prints the directory to use as KUBEBUILDER_ASSETS. ~8 minutes cold on 2 cores, instant when cached.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/versions.sh"
K8S=$K8S_VERSION ETCD=$ETCD_VERSION
OUT=${OUT:-${BBQ_CACHE:-$HOME/.cache/connected-bbq}/k8s-test-bin/$K8S}
mkdir -p "$OUT"
# One build at a time: .ci/run starts the node binaries in the background, and setup-helm.sh and the cluster test
# then wait here for them instead of compiling the same packages beside them.
exec 8>"$OUT/.lock"
flock 8
cmds=(kube-apiserver)
[[ ${1:-} == cluster ]] && cmds+=(kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
built() { for c in "${cmds[@]}" etcd; do [[ -x $OUT/$c ]] || return 1; done; }
# The stamp marks binaries built with their real version (helm checks a chart's kubeVersion against it).
if built && [[ -f $OUT/.stamp-v2 ]]; then echo "$OUT"; exit 0; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GOWORK=off GOFLAGS=-mod=mod
mkdir "$work/api" "$work/etcd"

# kube-apiserver: the kubernetes module points its staging modules at ./staging; pin them to the release.
cd "$work/api"
go mod download -json "k8s.io/kubernetes@v$K8S" >/dev/null
mod=$(go env GOMODCACHE)/k8s.io/kubernetes@v$K8S
{
  printf 'module apibuild\n\ngo 1.25.0\n\nreplace (\n'
  grep "=> ./staging" "$mod/go.mod" | awk -v v="0.${K8S#1.}" '{print "\t"$1" => "$1" v"v}'
  printf ')\n'
} >go.mod
pkgs=()
for c in "${cmds[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c@v$K8S"); done
go get "${pkgs[@]}" >&2
minor=${K8S#1.}; minor=${minor%%.*}
vpkg=k8s.io/component-base/version cpkg=k8s.io/client-go/pkg/version
ldflags="-X $vpkg.gitVersion=v$K8S -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor -X $vpkg.gitTreeState=clean"
ldflags+=" -X $cpkg.gitVersion=v$K8S -X $cpkg.gitMajor=1 -X $cpkg.gitMinor=$minor"
for c in "${cmds[@]}"; do
  [[ -x $OUT/$c && -f $OUT/.stamp-v2 ]] || go build -ldflags "$ldflags" -o "$OUT/$c" "k8s.io/kubernetes/cmd/$c"
done

if [[ ! -x $OUT/etcd ]]; then
  cd "$work/etcd"
  printf 'module etcdbuild\n\ngo 1.25.0\n' >go.mod
  printf 'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n' >main.go
  go get "go.etcd.io/etcd/server/v3@v$ETCD" >&2
  go build -o "$OUT/etcd" .
fi
touch "$OUT/.stamp-v2"
echo "$OUT"

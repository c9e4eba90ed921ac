#!/usr/bin/env bash
# A real single-node Kubernetes on this machine, for running the chart's pods: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubelet and kube-proxy built from Go modules
# (scripts/k8s-test-binaries.sh cluster), containerd, runc and the CNI plugins from Debian. No systemd and no
# registry here: cgroupfs everywhere, and every image (the sandbox's too) is built locally and imported.
#
# Usage: scripts/cluster.sh up          start it; prints the kubeconfig path
#        scripts/cluster.sh load IMG... import podman images into the cluster's containerd
#        scripts/cluster.sh down        stop it and clean the host (pods, rules, mounts, sysctls)
# Env:   BBQ_CLUSTER_DIR state (pki, configs, logs, etcd data, kubelet root); default /tmp/bbq-cluster
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
D=${BBQ_CLUSTER_DIR:-/tmp/bbq-cluster}
L=$D/logs
POD_CIDR=10.244.0.0/24 CLUSTER_CIDR=10.244.0.0/16 SVC_CIDR=10.96.0.0/16
SANDBOX_IMAGE=localhost/bbq-cluster/pause:1
NODE=$(hostname | tr 'A-Z' 'a-z')
NODE_IP=$(hostname -I | awk '{print $1}') # kubelet refuses a loopback node address
export KUBECONFIG=$D/admin.kubeconfig
source "$root/scripts/podman.sh"

start() { # start NAME CMD...: a daemon, detached, logging to $L/NAME.log
  local n=$1; shift
  setsid "$@" >"$L/$n.log" 2>&1 </dev/null &
  echo $! >"$D/run/$n.pid"
}
wait_for() { # wait_for WHAT SECONDS CMD...
  local what=$1 t=$2; shift 2
  for _ in $(seq "$t"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  echo "cluster: timed out waiting for $what; logs in $L" >&2
  return 1
}

pki() {
  local P=$D/pki
  mkdir -p "$P" && cd "$P"
  openssl genrsa -out ca.key 2048 2>/dev/null
  openssl req -x509 -new -nodes -key ca.key -subj "/CN=bbq-cluster-ca" -days 30 -out ca.crt
  cert() { # name CN O [SANs: a serving certificate]
    local n=$1 cn=$2 o=$3 san=${4:-} subj="/CN=$2"
    [[ -n $o ]] && subj="/O=$o/CN=$cn"
    openssl genrsa -out "$n.key" 2048 2>/dev/null
    openssl req -new -key "$n.key" -subj "$subj" -out "$n.csr"
    {
      echo "basicConstraints=CA:FALSE"
      echo "keyUsage=critical,digitalSignature,keyEncipherment"
      if [[ -n $san ]]; then echo "extendedKeyUsage=serverAuth,clientAuth"; echo "subjectAltName=$san"
      else echo "extendedKeyUsage=clientAuth"; fi
    } >"$n.ext"
    openssl x509 -req -in "$n.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -extfile "$n.ext" -out "$n.crt" 2>/dev/null
    rm -f "$n.csr" "$n.ext"
  }
  cert apiserver kube-apiserver "" "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.96.0.1,IP:$NODE_IP"
  cert admin kubernetes-admin system:masters
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
  cert controller-manager system:kube-controller-manager ""
  cert scheduler system:kube-scheduler ""
  cert kube-proxy system:kube-proxy ""
  cert kubelet "system:node:$NODE" system:nodes
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  for n in admin controller-manager scheduler kube-proxy kubelet; do
    cat >"$D/$n.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: bbq, cluster: {server: "https://127.0.0.1:6443", certificate-authority: "$P/ca.crt"}}]
users: [{name: $n, user: {client-certificate: "$P/$n.crt", client-key: "$P/$n.key"}}]
contexts: [{name: bbq, context: {cluster: bbq, user: $n}}]
current-context: bbq
EOF
  done
  cd "$root"
}

sandbox_image() { # the pause process, static, on an empty base
  local dir=$D/pause
  mkdir -p "$dir/rootfs"
  (cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags=-s -o "$dir/rootfs/pause" ./test/cluster/pause)
  tar -C "$dir/rootfs" -c . | podman import -q --change 'ENTRYPOINT ["/pause"]' --change 'USER 65535' - "$SANDBOX_IMAGE" >/dev/null
}

containerd_up() {
  mkdir -p "$D/cni"
  # A CNI directory of our own: /etc/cni/net.d holds podman's network.
  cat >"$D/cni/10-bbq.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "bbq-cluster", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}},
  {"type": "loopback"}]}
EOF
  # restrict_oom_score_adj: root here lacks CAP_SYS_RESOURCE, and runc fails to set the sandbox's -998.
  containerd config default | sed \
    -e 's#bin_dir = "/opt/cni/bin"#bin_dir = "/usr/lib/cni"#' \
    -e "s#conf_dir = \"/etc/cni/net.d\"#conf_dir = \"$D/cni\"#" \
    -e 's#restrict_oom_score_adj = false#restrict_oom_score_adj = true#' \
    -e "s#sandbox_image = \".*\"#sandbox_image = \"$SANDBOX_IMAGE\"#" >"$D/containerd.toml"
  start containerd containerd --config "$D/containerd.toml"
  wait_for containerd 30 ctr version
  load "$SANDBOX_IMAGE"
  ctr -n k8s.io images label "$SANDBOX_IMAGE" io.cri-containerd.pinned=pinned >/dev/null
}

control_plane() {
  local P=$D/pki
  start etcd etcd --name bbq --data-dir "$D/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster bbq=http://127.0.0.1:2380
  wait_for etcd 60 curl -fs http://127.0.0.1:2379/health
  start kube-apiserver kube-apiserver --etcd-servers=http://127.0.0.1:2379 \
    --bind-address=0.0.0.0 --secure-port=6443 --advertise-address="$NODE_IP" \
    --tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" --client-ca-file="$P/ca.crt" \
    --kubelet-client-certificate="$P/apiserver-kubelet-client.crt" --kubelet-client-key="$P/apiserver-kubelet-client.key" \
    --service-account-key-file="$P/sa.pub" --service-account-signing-key-file="$P/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local --service-cluster-ip-range=$SVC_CIDR \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --kubelet-preferred-address-types=InternalIP,Hostname
  wait_for kube-apiserver 120 kubectl --request-timeout=3s get --raw=/readyz
  start kube-controller-manager kube-controller-manager --kubeconfig="$D/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$D/controller-manager.kubeconfig" --authorization-kubeconfig="$D/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
    --service-account-private-key-file="$P/sa.key" --root-ca-file="$P/ca.crt" \
    --cluster-signing-cert-file="$P/ca.crt" --cluster-signing-key-file="$P/ca.key" \
    --allocate-node-cidrs=true --cluster-cidr=$CLUSTER_CIDR --node-cidr-mask-size=24 --service-cluster-ip-range=$SVC_CIDR
  start kube-scheduler kube-scheduler --kubeconfig="$D/scheduler.kubeconfig" \
    --authentication-kubeconfig="$D/scheduler.kubeconfig" --authorization-kubeconfig="$D/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false
  wait_for kube-controller-manager 60 curl -fsk https://127.0.0.1:10257/healthz
  wait_for kube-scheduler 60 curl -fsk https://127.0.0.1:10259/healthz
}

# kubelet sets host sysctls (kernel.panic, vm.overcommit_memory, ...): down restores them. The originals are
# kept outside the state directory until then, so a failed down cannot lose them.
SYSCTL_ORIG=/var/tmp/bbq-cluster-sysctl.orig
SYSCTLS="vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes"

node() {
  [[ -s $SYSCTL_ORIG ]] || for k in $SYSCTLS; do echo "$k=$(sysctl -n "$k")"; done >"$SYSCTL_ORIG"
  cat >"$D/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false    # this machine has cgroup v1 (kubelet >= 1.35 refuses it unless told)
cgroupDriver: cgroupfs # no systemd
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
authentication: {anonymous: {enabled: false}, webhook: {enabled: true}, x509: {clientCAFile: "$D/pki/ca.crt"}}
authorization: {mode: Webhook}
clusterDomain: cluster.local
failSwapOn: false
podCIDR: $POD_CIDR
clusterDNS: [10.96.0.10]
imageGCHighThresholdPercent: 100 # never collect the imported images
# The node's disk is the host's, shared with everything else on it: kubelet's default thresholds (imagefs under 15 %
# free) taint the node with disk-pressure and evict the imported images, the sandbox's too, which no registry can
# give back. Only a truly full disk counts here.
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, nodefs.inodesFree: 1%, imagefs.available: 1%}
EOF
  start kubelet kubelet --config="$D/kubelet.yaml" --kubeconfig="$D/kubelet.kubeconfig" \
    --root-dir="$D/kubelet" --hostname-override="$NODE" --node-ip="$NODE_IP" --v=1
  wait_for "node $NODE" 60 kubectl get node "$NODE"
  kubectl wait --for=condition=Ready "node/$NODE" --timeout=60s >/dev/null
  cat >"$D/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "$D/kube-proxy.kubeconfig"}
mode: iptables
clusterCIDR: $CLUSTER_CIDR
hostnameOverride: $NODE
nodePortAddresses: [primary]
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s} # leave the host's sysctls alone
iptables: {localhostNodePorts: false}
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
EOF
  start kube-proxy kube-proxy --config="$D/kube-proxy.yaml" --v=1
  wait_for kube-proxy 60 curl -fs http://127.0.0.1:10256/healthz
}


dns() { # CoreDNS (a stand-in image: scripts/standin-images.sh), serving cluster.local at 10.96.0.10
  local image
  image=$("$root/scripts/standin-images.sh" | sed -n 's/^coredns=//p')
  load "$image"
  kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: ServiceAccount
metadata: {name: coredns, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: bbq-cluster:coredns}
rules:
  - {apiGroups: [""], resources: [services, pods, namespaces], verbs: [list, watch]}
  - {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: bbq-cluster:coredns}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: bbq-cluster:coredns}
subjects: [{kind: ServiceAccount, name: coredns, namespace: kube-system}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: coredns, namespace: kube-system}
data:
  Corefile: |
    .:1053 {
        errors
        health :8080
        ready :8181
        kubernetes cluster.local in-addr.arpa ip6.arpa {
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
        }
        cache 30
    }
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system}
spec:
  selector: {matchLabels: {k8s-app: coredns}}
  template:
    metadata: {labels: {k8s-app: coredns}}
    spec:
      serviceAccountName: coredns
      dnsPolicy: Default
      securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: coredns
          image: $image
          imagePullPolicy: Never
          args: [-conf, /etc/coredns/Corefile]
          ports: [{name: dns, containerPort: 1053, protocol: UDP}, {name: dns-tcp, containerPort: 1053, protocol: TCP}]
          readinessProbe: {httpGet: {path: /ready, port: 8181}, periodSeconds: 2}
          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
          volumeMounts: [{name: config, mountPath: /etc/coredns}]
      volumes: [{name: config, configMap: {name: coredns}}]
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system}
spec:
  clusterIP: 10.96.0.10
  selector: {k8s-app: coredns}
  ports:
    - {name: dns, port: 53, targetPort: 1053, protocol: UDP}
    - {name: dns-tcp, port: 53, targetPort: 1053, protocol: TCP}
EOF
  kubectl -n kube-system rollout status deploy/coredns --timeout=180s >/dev/null
}

load() { # load IMAGE...: podman image -> the cluster's containerd (namespace k8s.io)
  for img in "$@"; do
    local tar=$D/images/$(echo "$img" | tr '/:' '__').tar
    mkdir -p "$D/images"
    podman save -q --format oci-archive -o "$tar" "$img"
    ctr -n k8s.io images import --base-name "${img%:*}" "$tar" >/dev/null
    rm -f "$tar"
  done
}

up() {
  [[ -f $D/run/kube-apiserver.pid ]] && (down) # a subshell: down turns errexit off
  mkdir -p "$D/run" "$L"
  pki
  sandbox_image
  containerd_up
  control_plane
  node
  dns
  echo "$KUBECONFIG"
}

stop() { # stop NAME: TERM, then KILL after 15 s
  local p
  p=$(cat "$D/run/$1.pid" 2>/dev/null) || return 0
  if kill -0 "$p" 2>/dev/null; then
    kill "$p"
    for _ in $(seq 15); do kill -0 "$p" 2>/dev/null || break; sleep 1; done
    kill -9 "$p" 2>/dev/null || true
  fi
  rm -f "$D/run/$1.pid"
}

down() {
  set +e +o pipefail # clean up all that can be, whatever fails
  if kubectl --request-timeout=5s get --raw=/readyz >/dev/null 2>&1; then # let kubelet tear pods down (CNI DEL)
    kubectl --request-timeout=10s delete deploy,sts,ds,jobs,pods --all -A --wait=false >/dev/null 2>&1 || true
    kubectl --request-timeout=10s delete ns -l bbq-cluster/test --wait=true --timeout=60s >/dev/null 2>&1 || true
    kubectl --request-timeout=10s delete pods --all -A --grace-period=5 --timeout=60s >/dev/null 2>&1 || true
  fi
  stop kube-proxy
  kube-proxy --cleanup >/dev/null 2>&1 || true
  for n in kubelet kube-scheduler kube-controller-manager kube-apiserver etcd; do stop "$n"; done
  if [[ -f $D/run/containerd.pid ]]; then
    for t in $(ctr -n k8s.io tasks ls -q 2>/dev/null); do ctr -n k8s.io tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true; done
    sleep 2
    for t in $(ctr -n k8s.io tasks ls -q 2>/dev/null); do ctr -n k8s.io tasks rm -f "$t" >/dev/null 2>&1 || true; done
    for c in $(ctr -n k8s.io containers ls -q 2>/dev/null); do ctr -n k8s.io containers rm "$c" >/dev/null 2>&1 || true; done
  fi
  stop containerd
  grep -E " ($D|/run/containerd|/var/lib/containerd|/run/netns)" /proc/mounts | awk '{print $2}' | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  for ns in $(ip netns list 2>/dev/null | awk '/^cni-/{print $1}'); do ip netns delete "$ns" || true; done
  ip link delete cni0 2>/dev/null || true
  rm -rf /var/lib/cni/networks/bbq-cluster /var/lib/cni/results/bbq-cluster-*
  iptables -t nat -S POSTROUTING 2>/dev/null | grep -F 'name: \"bbq-cluster\"' | while read -r r; do
    ch=$(echo "$r" | sed -n 's/.* -j \(CNI-[^ ]*\).*/\1/p')
    eval iptables -t nat "${r/-A/-D}" 2>/dev/null || true
    [[ -n $ch ]] && { iptables -t nat -F "$ch"; iptables -t nat -X "$ch"; } 2>/dev/null || true
  done
  for ipt in iptables ip6tables; do for tbl in nat filter mangle; do
    $ipt -t $tbl -S 2>/dev/null | grep -E '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*-j KUBE-' |
      sed 's/^-A/-D/' | while read -r r; do eval "$ipt -t $tbl $r" 2>/dev/null || true; done
    for ch in $($ipt -t $tbl -S 2>/dev/null | awk '/^-N KUBE-/{print $2}'); do
      $ipt -t $tbl -F "$ch" 2>/dev/null || true; $ipt -t $tbl -X "$ch" 2>/dev/null || true
    done
  done; done
  for h in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/unified/kubepods; do
    [[ -d $h ]] && find "$h" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
  [[ -s $SYSCTL_ORIG ]] && sysctl -q -p "$SYSCTL_ORIG" && rm -f "$SYSCTL_ORIG"
  rm -rf "$D" /var/lib/containerd /run/containerd
}

[[ ${1:-} =~ ^(up|down|load)$ ]] || { echo "usage: $0 up|load IMAGE...|down" >&2; exit 2; }
# The Kubernetes binaries (built once, then cached).
PATH=$("$root/scripts/k8s-test-binaries.sh" cluster | tail -n1):$PATH

case ${1:-} in
up) up ;;
down) down ;;
load) shift; load "$@" ;;
esac

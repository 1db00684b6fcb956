#!/usr/bin/env bash
# A real kubelet node (containerd + runc) joined to a running test control plane (tests/testbed), plus the
# kube-scheduler that control plane lacks. Opt-in (`make e2e-node`), never part of `make test`. Needs root.
#
#   node.sh start DIR   prepare the control plane, start containerd, kube-scheduler and the kubelet from DIR,
#                       wait until the node is Ready and untainted
#   node.sh stop DIR    stop the kubelet, every container it started, containerd and the scheduler; unmount
#                       what is left under DIR
#   node.sh import DIR ARCHIVE...   import OCI/Docker image archives into the node's containerd (CRI namespace);
#                       pods use them with imagePullPolicy: Never (there is no registry)
#
# Expects the environment tests/testbed/with-control-plane.sh exports (KUBECONFIG, TESTBED_DIR,
# TESTBED_CONTROL_PLANE) and a kube-controller-manager running the deployment, replicaset, nodelifecycle,
# serviceaccount and root-ca-cert-publisher controllers (TESTBED_CONTROLLERS; with-cluster.sh sets it).
#
# "Prepare the control plane": restart the apiserver with the same flags, except that ServiceAccount admission is
# on (pods get their projected token volume) and it reaches kubelets by InternalIP, with tests/node's version-stamped
# kube-apiserver binary (helm checks the chart's kubeVersion against it).
#
# Network: the node's address is 10.244.0.1 on a host bridge "entramail0" (created here, deleted by stop), which is
# also the gateway of the pods without hostNetwork (CNI bridge, 10.244.0.0/24). The kubelet refuses a loopback node
# IP, and one on eth0 would expose its (anonymous, AlwaysAllow) port; this address is only reachable from this host.
# The test apiserver listens on 127.0.0.1 only, so pods that talk to it use hostNetwork.
#
# Everything else lives under DIR: containerd's root/state/sockets, the kubelet's root, pod logs, CNI config and
# IPAM. Outside DIR: /run/containerd/s (shim sockets), /var/log/containers (kubelet's log symlinks), /run/netns.
#
# Environment: NODE_NAME (default entramail-node), NODE_KUBELET_VERBOSITY (default 2).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
TESTBIN="${TESTBIN:-${CARGO_TARGET_DIR:-$repo/target}/testbin}"
NODEBIN="${NODEBIN:-$TESTBIN/node}"
node_name="${NODE_NAME:-entramail-node}"
bridge=entramail0
node_ip=10.244.0.1
sandbox_image=entramail.test/pause:local
kubectl() { "$TESTBIN/kubectl" "$@"; }

# shellcheck source=tests/lib.sh
source "$here/../lib.sh" # free_port, wait_for, stop_pid

ctr_() { ctr --address "$1/containerd/containerd.sock" --namespace k8s.io "${@:2}"; }

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# wait_until SECONDS WHAT LOG COMMAND...: retries COMMAND every 0.5s; on timeout prints LOG's tail and fails.
wait_until() {
  local timeout=$1 what=$2 log=$3 i
  shift 3
  for ((i = 0; i < timeout * 2; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "node: timed out after ${timeout}s waiting for $what; last lines of $log:" >&2
  tail -n 40 "$log" >&2 || true
  return 1
}

prepare_control_plane() {
  local args="$TESTBED_DIR/apiserver.args"
  [[ -f "$args" ]] || { echo "node: $args missing (run under tests/testbed/with-control-plane.sh)" >&2; return 1; }
  if grep -q -- '--kubelet-preferred-address-types' "$args" \
    && [[ "$(readlink -f "/proc/$(cat "$TESTBED_DIR/apiserver.pid")/exe" 2>/dev/null)" == "$NODEBIN/kube-apiserver" ]]; then
    return 0
  fi
  sed -i '/^--disable-admission-plugins=ServiceAccount$/d' "$args"
  echo "--kubelet-preferred-address-types=InternalIP" >>"$args"
  TESTBIN="$NODEBIN" "$TESTBED_CONTROL_PLANE" restart-apiserver "$TESTBED_DIR"
  echo "node: apiserver restarted ($("$NODEBIN/kube-apiserver" --version), ServiceAccount admission on)" >&2
}

write_containerd_config() {
  local dir="$1" runc cni_bin=/usr/lib/cni
  runc="$(command -v runc)"
  [[ -x "$cni_bin/bridge" ]] || cni_bin=/opt/cni/bin
  mkdir -p "$dir/containerd" "$dir/cni/net.d" "$dir/cni/ipam"
  cat >"$dir/containerd/config.toml" <<EOF
version = 2
root = "$dir/containerd/root"
state = "$dir/containerd/state"
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.overlayfs", "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = "$dir/containerd/containerd.sock"

[ttrpc]
  address = "$dir/containerd/containerd-ttrpc.sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  # No registry: the sandbox image is imported from tests/node's pause archive.
  sandbox_image = "$sandbox_image"
  # The sandbox this runs in refuses negative oom_score_adj; without this runc fails with
  # "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$runc"
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$cni_bin"
    conf_dir = "$dir/cni/net.d"
EOF
  # Pods without hostNetwork get an address on a host bridge (CNI also has to be configured for the runtime to
  # report its network ready, which the node's Ready condition needs).
  cat >"$dir/cni/net.d/10-entramail.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "entramail-node",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": true,
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "10.244.0.0/24"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$dir/cni/ipam"
      }
    },
    {"type": "loopback"}
  ]
}
EOF
}

write_kubelet_config() {
  local dir="$1" port healthz
  port="$(free_port)"
  healthz="$(free_port)"
  mkdir -p "$dir/kubelet/root" "$dir/kubelet/pki" "$dir/kubelet/pod-logs" "$dir/kubelet/volume-plugins"
  cp "$KUBECONFIG" "$dir/kubelet/kubeconfig"
  cat >"$dir/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# The node address only (see the top of node.sh), free ports; the apiserver (kubectl logs/exec) connects
# anonymously, so anonymous is allowed here.
address: $node_ip
port: $port
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $healthz
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization:
  mode: AlwaysAllow
containerRuntimeEndpoint: unix://$dir/containerd/containerd.sock
# This host: cgroup v1 (hybrid), swap allowed, no QoS cgroup hierarchy, no node allocatable enforcement.
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
cgroupsPerQOS: false
enforceNodeAllocatable: []
localStorageCapacityIsolation: false
# A shared machine: never evict or garbage-collect images because of the host's disk or memory.
evictionHard: {memory.available: "1Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
podLogsDir: $dir/kubelet/pod-logs
volumePluginDir: $dir/kubelet/volume-plugins
rotateCertificates: false
serverTLSBootstrap: false
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
syncFrequency: 10s
EOF
}

node_ready() {
  [[ "$(kubectl get node "$node_name" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" == True ]] \
    && [[ -z "$(kubectl get node "$node_name" -o 'jsonpath={.spec.taints}')" ]]
}

start() {
  local dir="$1"
  [[ $EUID -eq 0 ]] || { echo "node: the kubelet and containerd need root" >&2; return 1; }
  : "${KUBECONFIG:?node: KUBECONFIG unset (run under tests/testbed/with-control-plane.sh)}"
  : "${TESTBED_DIR:?node: TESTBED_DIR unset (run under tests/testbed/with-control-plane.sh)}"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  "$here/build.sh"
  prepare_control_plane

  if ! alive "$dir/scheduler.pid"; then
    setsid "$NODEBIN/kube-scheduler" --kubeconfig "$KUBECONFIG" --leader-elect=false --secure-port=0 \
      >>"$dir/scheduler.log" 2>&1 </dev/null &
    echo $! >"$dir/scheduler.pid"
  fi

  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add "$bridge" type bridge
    ip addr add "$node_ip/24" dev "$bridge"
  fi
  ip link set "$bridge" up

  if ! alive "$dir/containerd.pid"; then
    write_containerd_config "$dir"
    setsid containerd --config "$dir/containerd/config.toml" >>"$dir/containerd.log" 2>&1 </dev/null &
    echo $! >"$dir/containerd.pid"
  fi
  wait_until 30 "containerd" "$dir/containerd.log" ctr_ "$dir" version
  if ! ctr_ "$dir" images check "name==$sandbox_image" 2>/dev/null | grep -q complete; then
    ctr_ "$dir" images import --snapshotter native "$NODEBIN/pause.oci.tar" >/dev/null
  fi

  if ! alive "$dir/kubelet.pid"; then
    write_kubelet_config "$dir"
    setsid "$NODEBIN/kubelet" --config "$dir/kubelet/config.yaml" --kubeconfig "$dir/kubelet/kubeconfig" \
      --root-dir "$dir/kubelet/root" --cert-dir "$dir/kubelet/pki" \
      --hostname-override "$node_name" --node-ip "$node_ip" --v="${NODE_KUBELET_VERBOSITY:-2}" \
      >>"$dir/kubelet.log" 2>&1 </dev/null &
    echo $! >"$dir/kubelet.pid"
  fi
  # Ready, and the not-ready taint the node registers with removed by the nodelifecycle controller.
  wait_until 120 "node $node_name Ready and untainted" "$dir/kubelet.log" node_ready
  echo "node: $node_name Ready ($("$NODEBIN/kubelet" --version), containerd $(containerd --version | awk '{print $3}'))" >&2
}

import() {
  local dir="$1" archive
  shift
  for archive in "$@"; do
    ctr_ "$dir" images import --snapshotter native "$archive"
  done
}

stop() {
  local dir="$1" sock task pid mnt ns
  [[ -d "$dir" ]] || return 0
  dir="$(cd "$dir" && pwd)"
  sock="$dir/containerd/containerd.sock"
  stop_pid "$dir/scheduler.pid" 10
  # Let the kubelet stop the pods itself, so the runtime tears their networks down (CNI DEL) and unmounts their
  # volumes; nothing reschedules them with the scheduler gone.
  if alive "$dir/kubelet.pid" && alive "$dir/containerd.pid"; then
    kubectl delete pods --all-namespaces --field-selector "spec.nodeName=$node_name" --grace-period=1 \
      --wait=false >/dev/null 2>&1 || true
    for _ in $(seq 1 60); do
      [[ -z "$(ctr_ "$dir" tasks ls -q 2>/dev/null)" ]] && break
      sleep 0.5
    done
  fi
  stop_pid "$dir/kubelet.pid" 10
  # Containers outlive the kubelet: kill and delete every task left while containerd still runs.
  if alive "$dir/containerd.pid"; then
    for task in $(ctr_ "$dir" tasks ls -q 2>/dev/null); do
      ctr_ "$dir" tasks kill --all --signal SIGKILL "$task" >/dev/null 2>&1 || true
    done
    for task in $(ctr_ "$dir" tasks ls -q 2>/dev/null); do
      for _ in $(seq 1 20); do
        ctr_ "$dir" tasks delete --force "$task" >/dev/null 2>&1 && break
        sleep 0.2
      done
    done
  fi
  stop_pid "$dir/containerd.pid" 10
  # Shims left behind (this containerd's only: their command line names its socket).
  { grep -lsz -- "$sock" /proc/[0-9]*/cmdline || true; } | cut -d/ -f3 | while read -r pid; do
    if [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == containerd-shim* ]]; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  # Mounts under DIR (sandbox shm, projected volumes, rootfs bind mounts), deepest first.
  awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r mnt; do
    umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
  done
  # The kubelet's /var/log/containers links into DIR.
  find /var/log/containers -maxdepth 1 -lname "$dir/*" -delete 2>/dev/null || true
  # Network namespaces of pods the kubelet could not stop: the ones with an address in this node's pod subnet.
  for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^cni-/ { print $1 }'); do
    if ip netns exec "$ns" ip -4 -o addr show 2>/dev/null | grep -q " ${node_ip%.*}\."; then
      ip netns delete "$ns" 2>/dev/null || true
    fi
  done
  if ip link show "$bridge" >/dev/null 2>&1; then ip link delete "$bridge" 2>/dev/null || true; fi
}

case "${1:-}" in
  start) start "${2:?directory}" ;;
  stop) stop "${2:?directory}" ;;
  import) import "${2:?directory}" "${@:3}" ;;
  *) echo "usage: $0 start|stop DIR | import DIR ARCHIVE..." >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Runs a command with a real kubelet node (and a kube-scheduler) joined to the test control plane it runs under:
#
#   tests/node/with-cluster.sh CMD...      control plane + node (what you usually want; sets TESTBED_CONTROLLERS)
#   tests/testbed/with-control-plane.sh tests/node/with-node.sh CMD...   the same, when TESTBED_CONTROLLERS is set
#
# Exports NODE_DIR (containerd/kubelet state and logs: $TESTBED_DIR/node), NODE_NAME and NODE_CTL (this directory's
# node.sh, e.g. `"$NODE_CTL" import "$NODE_DIR" image.oci.tar`). Stops the node when CMD ends, whatever happened;
# TESTBED_KEEP=1 keeps the logs with the control plane's.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${TESTBED_DIR:?with-node.sh runs under tests/testbed/with-control-plane.sh (or use tests/node/with-cluster.sh)}"
export NODE_DIR="$TESTBED_DIR/node" NODE_NAME="${NODE_NAME:-entramail-node}" NODE_CTL="$here/node.sh"

cleanup() {
  local rc=$?
  if [[ $rc -ne 0 ]]; then
    for log in kubelet containerd scheduler; do
      [[ -s "$NODE_DIR/$log.log" ]] || continue
      echo "node: command failed ($rc); $log log tail:" >&2
      tail -n 15 "$NODE_DIR/$log.log" >&2
    done
  fi
  "$here/node.sh" stop "$NODE_DIR" || true
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$here/node.sh" start "$NODE_DIR"
"$@"

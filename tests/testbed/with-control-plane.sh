#!/usr/bin/env bash
# Runs a command with a fresh real control plane: builds the pinned binaries if needed, starts etcd +
# kube-apiserver + kube-controller-manager in a temp dir, exports its kubeconfig, runs "$@", tears it all down.
#
#   tests/testbed/with-control-plane.sh cargo test --workspace
#
# Exports: KUBECONFIG and TESTBED_KUBECONFIG (the admin kubeconfig), TESTBED_DIR, TESTBED_CONTROL_PLANE (this
# directory's control-plane.sh, e.g. for `restart-apiserver "$TESTBED_DIR"`), TESTBIN; PATH gains TESTBIN (kubectl).
# TESTBED_KEEP=1 keeps the directory (logs) after the run.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export TESTBIN="${TESTBIN:-${CARGO_TARGET_DIR:-$repo/target}/testbin}"

"$here/build.sh"

TESTBED_DIR="$(mktemp -d "${TMPDIR:-/tmp}/entramail-testbed.XXXXXX")"
cleanup() {
  local rc=$?
  "$here/control-plane.sh" stop "$TESTBED_DIR" || true
  if [[ $rc -ne 0 ]]; then
    echo "testbed: command failed ($rc); apiserver log tail:" >&2
    tail -n 15 "$TESTBED_DIR/apiserver.log" >&2 || true
  fi
  if [[ "${TESTBED_KEEP:-0}" == 1 ]]; then
    echo "testbed: kept $TESTBED_DIR" >&2
  else
    rm -rf "$TESTBED_DIR"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$here/control-plane.sh" start "$TESTBED_DIR"
export TESTBED_DIR TESTBED_KUBECONFIG="$TESTBED_DIR/kubeconfig" KUBECONFIG="$TESTBED_DIR/kubeconfig"
export TESTBED_CONTROL_PLANE="$here/control-plane.sh"
export PATH="$TESTBIN:$PATH"
"$@"

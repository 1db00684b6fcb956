#!/usr/bin/env bash
# Builds the pinned control-plane binaries (etcd, kube-apiserver, kube-controller-manager, kubectl) from Go modules
# into $TESTBIN. Skips the build when the binaries match the pinned go.mod/go.sum (a stamp file), so a second run is
# instant; Go's own build and module caches make a rebuild after a pin change incremental.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
TESTBIN="${TESTBIN:-${CARGO_TARGET_DIR:-$repo/target}/testbin}"
mkdir -p "$TESTBIN"

# Concurrent callers (parallel test runs) wait for one build instead of racing on the same outputs.
exec 9>"$TESTBIN/.testbed-build.lock"
flock 9

stamp="$TESTBIN/.testbed-stamp"
want="$(cat "$here/go.mod" "$here/go.sum" | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
  && [[ -x "$TESTBIN/etcd" && -x "$TESTBIN/kube-apiserver" && -x "$TESTBIN/kube-controller-manager" && -x "$TESTBIN/kubectl" ]]; then
  exit 0
fi

echo "testbed: building etcd, kube-apiserver, kube-controller-manager, kubectl into $TESTBIN (first run takes minutes)" >&2
cd "$here"
# -mod=readonly: go.mod/go.sum are committed; a build must never rewrite them.
go build -mod=readonly -trimpath -o "$TESTBIN/etcd" go.etcd.io/etcd/server/v3
go build -mod=readonly -trimpath -o "$TESTBIN/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kubectl
echo "$want" >"$stamp"
"$TESTBIN/kube-apiserver" --version >&2

#!/usr/bin/env bash
# Builds what the opt-in node test bed (tests/node, `make e2e-node`) adds to tests/testbed's control plane:
#   kubelet, kube-scheduler,  from k8s.io/kubernetes, pinned by tests/node/go.mod (same release and replace lines as
#   kube-apiserver            tests/testbed/go.mod; a module of its own so make test's go.mod/go.sum never change),
#                             with the release version stamped in: a plain `go build` reports v0.0.0, and helm install
#                             refuses the chart (kubeVersion >=1.30) on such a server. e2e.sh restarts the test control
#                             plane's apiserver with this binary (same flags).
#   pause, pause.oci.tar      the pod sandbox image (tests/node/pause, a static Go binary; no registry here)
# into $TESTBIN/node/ (not $TESTBIN: make test's unversioned binaries stay as they are), and checks the host
# packages the node runs on (containerd, runc, CNI plugins; Debian/Ubuntu: installed with apt-get when missing and
# running as root).
# Idempotent: a stamp over go.mod, go.sum and the pause sources skips the build, so a second run is instant.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
TESTBIN="${TESTBIN:-${CARGO_TARGET_DIR:-$repo/target}/testbin}"
NODEBIN="${NODEBIN:-$TESTBIN/node}"
mkdir -p "$NODEBIN"

# Host packages: containerd (CRI), runc, the reference CNI plugins (bridge, host-local, loopback).
missing=()
command -v containerd >/dev/null || missing+=(containerd)
command -v runc >/dev/null || missing+=(runc)
[[ -x /usr/lib/cni/bridge || -x /opt/cni/bin/bridge ]] || missing+=(containernetworking-plugins)
if ((${#missing[@]})); then
  if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "node: installing ${missing[*]} (apt-get)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  else
    echo "node: missing host packages: ${missing[*]} (Debian: apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

exec 9>"$NODEBIN/.build.lock"
flock 9

# Two stamps, so that a change to the image packer (oci_image.py, also used by make image) re-packs the pause image
# without rebuilding kubelet and friends (minutes cold).
kube_stamp="$NODEBIN/.stamp-kube"
pause_stamp="$NODEBIN/.stamp-pause"
kube_want="$(cat "$here/go.mod" "$here/go.sum" | sha256sum | cut -d' ' -f1)"
pause_want="$(cat "$here/go.mod" "$here/go.sum" "$here/pause/main.go" "$here/oci_image.py" | sha256sum | cut -d' ' -f1)"
kube_done() {
  [[ -f "$kube_stamp" && "$(cat "$kube_stamp")" == "$kube_want" ]] \
    && [[ -x "$NODEBIN/kubelet" && -x "$NODEBIN/kube-scheduler" && -x "$NODEBIN/kube-apiserver" ]]
}
pause_done() { [[ -f "$pause_stamp" && "$(cat "$pause_stamp")" == "$pause_want" && -f "$NODEBIN/pause.oci.tar" ]]; }
if kube_done && pause_done; then
  exit 0
fi

cd "$here"
if ! kube_done; then
  echo "node: building kubelet, kube-scheduler, kube-apiserver into $NODEBIN (first run takes minutes)" >&2
  # The version stamp Kubernetes' own build (hack/lib/version.sh) sets, from the pinned module version.
  version="$(go list -mod=readonly -m -f '{{.Version}}' k8s.io/kubernetes)"
  minor="$(cut -d. -f2 <<<"$version")"
  pkg=k8s.io/component-base/version
  ldflags="-X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  ldflags+=" -X $pkg.buildDate=1970-01-01T00:00:00Z"
  # -mod=readonly: go.mod/go.sum are committed; a build must never rewrite them.
  go build -mod=readonly -trimpath -ldflags "$ldflags" -o "$NODEBIN/" \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kube-apiserver
  echo "$kube_want" >"$kube_stamp"
  "$NODEBIN/kubelet" --version >&2
fi

pause_done && exit 0
echo "node: building the pause image into $NODEBIN" >&2
CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags '-s -w' -o "$NODEBIN/pause" ./pause

# The sandbox image: just /pause, run as nobody unless the pod says otherwise.
rootfs="$(mktemp -d "${TMPDIR:-/tmp}/entramail-pause.XXXXXX")"
trap 'rm -rf "$rootfs"' EXIT
install -D -m 0755 "$NODEBIN/pause" "$rootfs/pause"
SOURCE_DATE_EPOCH=0 python3 "$here/oci_image.py" --rootfs "$rootfs" --out "$NODEBIN/pause.oci.tar" \
  --name entramail.test/pause:local --user 65535:65535 --entrypoint /pause >&2

echo "$pause_want" >"$pause_stamp"

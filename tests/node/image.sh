#!/usr/bin/env bash
# `make image`: the operator's container image without a container engine or a registry, as an OCI image archive.
#
#   tests/node/image.sh            -> $CARGO_TARGET_DIR/image/entramail-operator-dev.oci.tar (or target/image/...)
#
# The Dockerfile stays the documented build for anyone with docker/buildah and a registry (static musl binary on
# distroless). This host only has the x86_64-unknown-linux-gnu Rust target, so this image carries the release binary
# with the glibc libraries `ldd` lists, copied from this (Debian) host, plus the Mozilla CA bundle from the
# ca-certificates package (never the host's /etc/ssl/certs, which may hold local CAs), /etc/passwd and /etc/group
# entries for UID/GID 65532 and the packages' copyright files. It runs as 65532:65532 on a read-only root
# filesystem, as the chart's securityContext requires: the binary writes nothing but the chart's /tmp emptyDir.
#
# Load it with any of:
#   ctr -n k8s.io images import target/image/entramail-operator-dev.oci.tar   (then imagePullPolicy: Never)
#   podman load -i target/image/entramail-operator-dev.oci.tar
#   docker load -i target/image/entramail-operator-dev.oci.tar
#   skopeo copy oci-archive:target/image/entramail-operator-dev.oci.tar docker://REGISTRY/entramail-operator:TAG
#
# Environment: IMAGE_REPOSITORY (default ghcr.io/entramail/entramail-operator, the chart's image.repository),
# IMAGE_TAG (default dev), IMAGE_SKIP_BUILD=1 (package the binary already built), IMAGE_BINARY (package this binary
# instead of target/release/entramail-operator; implies IMAGE_SKIP_BUILD=1).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
repository="${IMAGE_REPOSITORY:-ghcr.io/entramail/entramail-operator}"
tag="${IMAGE_TAG:-dev}"
out_dir="$target/image"
out="$out_dir/entramail-operator-$tag.oci.tar"
bin="${IMAGE_BINARY:-$target/release/entramail-operator}"

if [[ "${IMAGE_SKIP_BUILD:-0}" != 1 && -z "${IMAGE_BINARY:-}" ]]; then
  (cd "$repo" && cargo build --release --locked --bin entramail-operator)
fi
[[ -x "$bin" ]] || { echo "image: $bin missing (cargo build --release)" >&2; exit 1; }

# shellcheck source=tests/node/rootfs.sh
source "$here/rootfs.sh" # rootfs_copy_libs, rootfs_base

mkdir -p "$out_dir"
rootfs="$(mktemp -d "$out_dir/rootfs.XXXXXX")"
trap 'rm -rf "$rootfs"' EXIT
chmod 0755 "$rootfs"

install -D -m 0755 "$bin" "$rootfs/usr/local/bin/entramail-operator"

rootfs_packages=()
rootfs_copy_libs "$rootfs" "$bin"
rootfs_base "$rootfs"

# Reproducible: file times clamped to the last commit's time.
SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || echo 0)}" \
  python3 "$here/oci_image.py" --rootfs "$rootfs" --out "$out" --name "$repository:$tag" \
  --user 65532:65532 --entrypoint /usr/local/bin/entramail-operator \
  --env PATH=/usr/local/bin:/usr/bin:/bin --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  --expose 8080/tcp --chown /home/nonroot=65532:65532 \
  --label org.opencontainers.image.title=entramail-operator \
  --label "org.opencontainers.image.description=Provisions and rotates Microsoft Entra app credentials for NocoBase mail" \
  --label org.opencontainers.image.source=https://github.com/entramail/entramail-operator \
  --label org.opencontainers.image.licenses=Apache-2.0 \
  --label "org.opencontainers.image.version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -n1)" \
  --label "org.opencontainers.image.revision=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)"

# Smoke test without a container engine: the packaged binary starts from the image's root alone, as 65532.
if [[ $EUID -eq 0 ]] && command -v chroot >/dev/null; then
  if ! chroot --userspec=65532:65532 "$rootfs" /usr/local/bin/entramail-operator --version; then
    echo "image: the binary does not start inside the image's root filesystem" >&2
    exit 1
  fi
fi
echo "image: $out ($repository:$tag, $(du -h "$out" | cut -f1))"

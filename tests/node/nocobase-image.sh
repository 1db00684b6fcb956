#!/usr/bin/env bash
# A NocoBase container image, built like `make image` (tests/node/image.sh) without a container engine or registry,
# from the NocoBase that tests/nocobase/install.sh installs (the one `make test` runs against):
#
#   tests/node/nocobase-image.sh    -> prints the archive's path: $NOCOBASE_HOME/image/nocobase-<version>.oci.tar
#
# Contents: /usr/local/bin/node (this host's Node.js, the one NocoBase was installed and its sqlite3 module compiled
# with) and the glibc libraries it and NocoBase's native modules link; /app (the installed app: node_modules etc.,
# without its storage/ and .env, source maps, type declarations and musl native modules); /template (db.sqlite + storage/ right after `nocobase install`); the entry point
# tests/node/nocobase/entrypoint.js, which copies /template into the writable data directory (/data, an emptyDir in
# the pod) on first start and runs the server. It runs as 65532:65532; everything is root-owned and read-only to it
# except /data and dist/client/index.html, which NocoBase's start re-renders from its template every time (so the
# root filesystem cannot be mounted read-only). Port 13000; health check GET /api/__health_check (docs/nocobase.md).
# The container needs APP_KEY.
#
# Cached: a stamp over the NocoBase install's stamp, Node's version and the scripts that build it; a warm run only
# prints the path. The layer is gzip-compressed (about a gigabyte of node_modules).
#
# Environment: NOCOBASE_HOME (the install cache, default ~/.cache/entramail-operator/nocobase),
# NOCOBASE_IMAGE (default entramail.test/nocobase:<NocoBase version>; a local name, never pulled).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
NOCOBASE_HOME="${NOCOBASE_HOME:-$HOME/.cache/entramail-operator/nocobase}"
export NOCOBASE_HOME

"$repo/tests/nocobase/install.sh" # instant when installed
app="$NOCOBASE_HOME/app"
version="$(node -p "require('$app/node_modules/@nocobase/app/package.json').version")"
name="${NOCOBASE_IMAGE:-entramail.test/nocobase:$version}"
out_dir="$NOCOBASE_HOME/image"
out="$out_dir/nocobase-$version.oci.tar"
mkdir -p "$out_dir"

exec 9>"$out_dir/.lock"
flock 9 # one build at a time; a second caller waits, then finds the stamp

want="$({
  echo "$name node=$(node --version)"
  cat "$NOCOBASE_HOME/stamp" "$0" "$here/rootfs.sh" "$here/oci_image.py" "$here/nocobase/entrypoint.js"
} | sha256sum | cut -d' ' -f1)"
if [[ -f "$out" && -f "$out.stamp" && "$(cat "$out.stamp")" == "$want" ]]; then
  echo "$out"
  exit 0
fi
rm -f "$out" "$out.stamp"

t0=$SECONDS
# Under NOCOBASE_HOME, i.e. on the install's filesystem: /app is hard-linked (cp -l), not copied.
rootfs="$(mktemp -d "$out_dir/rootfs.XXXXXX")"
trap 'rm -rf "$rootfs"' EXIT
chmod 0755 "$rootfs"

node_bin="$(readlink -f "$(command -v node)")"
install -D -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"
cp -al "$app" "$rootfs/app"
# Instance state of the host's test runs, never part of the image (instances use STORAGE_PATH, APP_ENV_PATH).
rm -rf "$rootfs/app/storage" "$rootfs/app/.env"
# Never loaded when NocoBase runs, and the node's containerd (native snapshotter) copies every file of the image for
# each container: source maps and type declarations (about 34,000 of the 89,000 files) and the musl builds of native
# modules (this image is glibc) go.
find "$rootfs/app/node_modules" -type f \( -name '*.map' -o -name '*.d.ts' \) -delete
find "$rootfs/app/node_modules" -maxdepth 2 -type d -name '*-linux-x64-musl' -prune -exec rm -rf {} +
install -d -m 0755 "$rootfs/template"
cp "$NOCOBASE_HOME/template/db.sqlite" "$rootfs/template/db.sqlite"
cp -r "$NOCOBASE_HOME/template/storage" "$rootfs/template/storage"
chmod -R a+rX "$rootfs/template"
install -D -m 0644 "$here/nocobase/entrypoint.js" "$rootfs/usr/local/lib/nocobase/entrypoint.js"
install -d -m 0755 "$rootfs/data"

# shellcheck source=tests/node/rootfs.sh
source "$here/rootfs.sh" # rootfs_copy_libs, rootfs_base
rootfs_packages=(nodejs)
mapfile -t native < <(find "$rootfs/app/node_modules" -name '*.node' -type f)
rootfs_copy_libs "$rootfs" "$rootfs/usr/local/bin/node" "${native[@]}"
rootfs_base "$rootfs"

index_html=/app/node_modules/@nocobase/app/dist/client/index.html
[[ -f "$rootfs$index_html" ]] || { echo "nocobase-image: $index_html missing in the install" >&2; exit 1; }
SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || echo 0)}" \
  python3 "$here/oci_image.py" --rootfs "$rootfs" --out "$out" --name "$name" --gzip \
  --user 65532:65532 --entrypoint /usr/local/bin/node --entrypoint /usr/local/lib/nocobase/entrypoint.js \
  --env PATH=/usr/local/bin:/usr/bin:/bin --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  --env NOCOBASE_DATA=/data --expose 13000/tcp \
  --chown /data=65532:65532 --chown /home/nonroot=65532:65532 --chown "$index_html=65532:65532" \
  --label org.opencontainers.image.title=nocobase \
  --label "org.opencontainers.image.description=NocoBase $version from npm with SQLite, for entramail-operator's e2e-node test" \
  --label "org.opencontainers.image.version=$version" >&2

# Smoke test without a container engine: Node starts from the image's root alone, as 65532.
if [[ $EUID -eq 0 ]] && command -v chroot >/dev/null; then
  chroot --userspec=65532:65532 "$rootfs" /usr/local/bin/node --version >/dev/null \
    || { echo "nocobase-image: node does not start inside the image's root filesystem" >&2; exit 1; }
fi
echo "$want" >"$out.stamp"
echo "nocobase-image: $out ($name, $(du -h "$out" | cut -f1)) built in $((SECONDS - t0))s" >&2
echo "$out"

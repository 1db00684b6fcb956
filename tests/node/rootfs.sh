# shellcheck shell=bash
# Helpers for the image builds without a container engine (tests/node/image.sh: the operator,
# tests/node/nocobase-image.sh: NocoBase), sourced, not run. Both images are a root filesystem assembled from this
# (Debian) host and packed by oci_image.py.

# rootfs_copy_libs ROOTFS FILE...: the shared libraries `ldd` lists for FILE(s) (executables or native modules), at
# the paths the dynamic loader looks for them (e.g. /lib64/ld-linux-x86-64.so.2, /lib/x86_64-linux-gnu/libc.so.6);
# the files are copied, never the host's symlinks. Libraries ldd cannot find are skipped: NocoBase ships musl
# variants of its native modules next to the glibc ones, and only the glibc ones load here. Appends the Debian
# packages that ship them to the caller's array `rootfs_packages` (for their copyright files).
rootfs_copy_libs() {
  local rootfs="$1" lib pkg
  shift
  local libs=()
  while read -r lib; do
    [[ -n "$lib" ]] && libs+=("$lib")
  done < <(for f in "$@"; do ldd "$f" 2>/dev/null || true; done \
    | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $2 ~ /^\(0x/ { print $1 }' | sort -u)
  ((${#libs[@]})) || { echo "rootfs: ldd found no libraries in $* (static binary? then copy it alone)" >&2; return 1; }
  for lib in "${libs[@]}"; do
    install -D -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
    # The Debian package that ships it (dpkg knows the /usr-merged path).
    pkg="$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib" 2>/dev/null || true)"
    [[ -n "$pkg" ]] && rootfs_packages+=("${pkg%%:*}")
  done
}

# rootfs_base ROOTFS: what every image here carries besides its program: the Mozilla CA bundle from the
# ca-certificates package (never the host's /etc/ssl/certs, which may hold local CAs), /etc/passwd and /etc/group
# with the nonroot user 65532, nsswitch.conf, /tmp, and the copyright files of `rootfs_packages` (plus
# ca-certificates).
rootfs_base() {
  local rootfs="$1" pkg
  [[ -d /usr/share/ca-certificates/mozilla ]] || {
    echo "rootfs: needs the Mozilla CA certificates (Debian: apt-get install ca-certificates)" >&2
    return 1
  }
  rootfs_packages+=(ca-certificates)
  # TLS roots: rustls-native-certs / openssl-probe / Node read SSL_CERT_FILE first, then this standard path.
  mkdir -p "$rootfs/etc/ssl/certs"
  find /usr/share/ca-certificates/mozilla -name '*.crt' -print0 | sort -z | xargs -0 cat \
    >"$rootfs/etc/ssl/certs/ca-certificates.crt"
  chmod 0644 "$rootfs/etc/ssl/certs/ca-certificates.crt"

  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
    >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$rootfs/etc/group"
  printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
  chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group" "$rootfs/etc/nsswitch.conf"
  install -d -m 1777 "$rootfs/tmp"
  install -d -m 0700 "$rootfs/home/nonroot"

  for pkg in $(printf '%s\n' "${rootfs_packages[@]}" | sort -u); do
    pkg="${pkg%%,*}"
    if [[ -f "/usr/share/doc/$pkg/copyright" ]]; then
      install -D -m 0644 "/usr/share/doc/$pkg/copyright" "$rootfs/usr/share/doc/$pkg/copyright"
    fi
  done
}

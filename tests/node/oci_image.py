#!/usr/bin/env python3
"""Writes a single-layer OCI image archive (an OCI image layout in a tar) from a root filesystem directory.

No container engine and no registry: the layer is a tar of ROOTFS (every entry owned by root unless listed in
--chown, mtimes clamped to SOURCE_DATE_EPOCH, sorted), so the same inputs give the same digests. The archive also
carries a Docker-style manifest.json, so it loads with any of

    ctr -n k8s.io images import ARCHIVE      (containerd; the name comes from io.containerd.image.name)
    podman load -i ARCHIVE
    docker load -i ARCHIVE
    skopeo copy oci-archive:ARCHIVE docker://REGISTRY/NAME:TAG

usage: oci_image.py --rootfs DIR --out ARCHIVE --name REPO:TAG --user UID:GID --entrypoint PATH [--entrypoint ARG]...
                    [--env K=V]... [--label K=V]... [--expose PORT/tcp]... [--chown PATH=UID:GID]... [--gzip]
"""

import argparse
import datetime
import gzip
import hashlib
import io
import json
import os
import stat
import sys
import tarfile


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class HashingWriter:
    """A write-only file object that hashes and counts what passes through it to the next writer (if any)."""

    def __init__(self, inner=None):
        self.inner, self.hash, self.size = inner, hashlib.sha256(), 0

    def write(self, data) -> int:
        self.hash.update(data)
        self.size += len(data)
        if self.inner is not None:
            self.inner.write(data)
        return len(data)

    def tell(self) -> int:  # tarfile asks where the stream starts
        return self.size

    def flush(self) -> None:
        if self.inner is not None:
            self.inner.flush()

    def digest(self) -> str:
        return "sha256:" + self.hash.hexdigest()


def write_layer(rootfs: str, epoch: int, chown: dict, out, compress: bool):
    """Writes the layer tar of ROOTFS to the binary file OUT, streamed (NocoBase's layer is over a gigabyte, so it
    is never held in memory). Returns (diff_id, digest, size): the uncompressed tar's digest (the image config's
    diff_id) and the digest and size of the blob as written (gzip-compressed with --gzip)."""
    blob = HashingWriter(out)
    # mtime=0 and no file name in the gzip header: the same layer gives the same blob digest.
    gz = gzip.GzipFile(filename="", mode="wb", fileobj=blob, compresslevel=1, mtime=0) if compress else None
    plain = HashingWriter(gz if gz is not None else blob)
    # PAX format keeps long names and exact sizes; no user/group names, numeric ids only.
    with tarfile.open(fileobj=plain, mode="w", format=tarfile.PAX_FORMAT) as tar:
        entries = []
        for dirpath, dirnames, filenames in os.walk(rootfs):
            dirnames.sort()
            for name in sorted(dirnames + filenames):
                entries.append(os.path.join(dirpath, name))
        for path in sorted(entries, key=lambda p: os.path.relpath(p, rootfs)):
            rel = os.path.relpath(path, rootfs)
            info = tar.gettarinfo(path, arcname=rel)
            info.uid, info.gid = chown.get("/" + rel, (0, 0))
            info.uname = info.gname = ""
            info.mtime = min(int(info.mtime), epoch)
            if info.isreg():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    if gz is not None:
        gz.close()
    return plain.digest(), blob.digest(), blob.size


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rootfs", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--name", required=True, help="full reference, e.g. ghcr.io/entramail/entramail-operator:dev")
    p.add_argument("--user", required=True)
    p.add_argument("--entrypoint", required=True, action="append", help="repeat for arguments")
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--label", action="append", default=[])
    p.add_argument("--expose", action="append", default=[])
    p.add_argument("--chown", action="append", default=[], help="PATH=UID:GID inside the image")
    p.add_argument("--gzip", action="store_true", help="gzip the layer (fast level; for big layers)")
    a = p.parse_args()

    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    created = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    chown = {}
    for c in a.chown:
        path, ids = c.split("=", 1)
        uid, gid = ids.split(":")
        chown[path] = (int(uid), int(gid))
    tag = a.name.rsplit(":", 1)[1] if ":" in a.name.rsplit("/", 1)[-1] else "latest"

    # By default the layer stays uncompressed: ctr, podman and docker all accept plain tar layers. --gzip for big
    # layers (NocoBase's), to keep the archive and containerd's content store small. Written to a temporary file
    # next to the archive, then copied into it.
    tmp_layer = a.out + ".layer.tmp"
    try:
        with open(tmp_layer, "wb") as f:
            diff_id, layer_digest, layer_size = write_layer(a.rootfs, epoch, chown, f, a.gzip)
        write_archive(a, epoch, created, tag, diff_id, layer_digest, layer_size, tmp_layer)
    finally:
        if os.path.exists(tmp_layer):
            os.remove(tmp_layer)
    return 0


def write_archive(a, epoch, created, tag, diff_id, layer_digest, layer_size, layer_path) -> None:
    config = {
        "created": created,
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": a.user,
            "Entrypoint": a.entrypoint,
            "Env": a.env,
            "WorkingDir": "/",
            "Labels": dict(kv.split("=", 1) for kv in a.label),
            "ExposedPorts": {port: {} for port in a.expose},
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": "tests/node/image.sh (oci_image.py)"}],
    }
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_digest = sha256(config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": len(config_bytes),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if a.gzip else ""),
                "digest": layer_digest,
                "size": layer_size,
            }
        ],
        "annotations": {"org.opencontainers.image.created": created},
    }
    manifest_bytes = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    manifest_digest = sha256(manifest_bytes)
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": len(manifest_bytes),
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {
                    "io.containerd.image.name": a.name,
                    "org.opencontainers.image.ref.name": tag,
                },
            }
        ],
    }

    def blob(digest: str) -> str:
        return "blobs/sha256/" + digest.split(":", 1)[1]

    docker_manifest = [{"Config": blob(config_digest), "RepoTags": [a.name], "Layers": [blob(layer_digest)]}]
    files = [
        ("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode()),
        ("index.json", json.dumps(index, sort_keys=True, separators=(",", ":")).encode()),
        ("manifest.json", json.dumps(docker_manifest, separators=(",", ":")).encode()),
        (blob(config_digest), config_bytes),
        (blob(manifest_digest), manifest_bytes),
    ]
    tmp = a.out + ".tmp"
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, epoch
            tar.addfile(info)
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), stat.S_IMODE(0o644), epoch
            tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo(blob(layer_digest))
        info.size, info.mode, info.mtime = layer_size, stat.S_IMODE(0o644), epoch
        with open(layer_path, "rb") as f:
            tar.addfile(info, f)
    os.replace(tmp, a.out)
    print(f"{a.out}: {a.name} manifest {manifest_digest} ({layer_size // 1024} KiB layer)")


if __name__ == "__main__":
    sys.exit(main())

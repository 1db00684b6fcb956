#!/usr/bin/env python3
"""Writes a single-layer OCI image archive (an OCI image layout in a tar) from a root filesystem directory.

No container engine and no registry: the layer is a tar of ROOTFS (every entry owned by root unless listed in
--chown, mtimes clamped to SOURCE_DATE_EPOCH, sorted), so the same inputs give the same digests. The archive also
carries a Docker-style manifest.json, so it loads with any of

    ctr -n k8s.io images import ARCHIVE      (containerd; the name comes from io.containerd.image.name)
    podman load -i ARCHIVE
    docker load -i ARCHIVE
    skopeo copy oci-archive:ARCHIVE docker://REGISTRY/NAME:TAG

usage: oci_image.py --rootfs DIR --out ARCHIVE --name REPO:TAG --user UID:GID --entrypoint PATH
                    [--env K=V]... [--label K=V]... [--expose PORT/tcp]... [--chown PATH=UID:GID]...
"""

import argparse
import datetime
import hashlib
import io
import json
import os
import stat
import sys
import tarfile


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(rootfs: str, epoch: int, chown: dict) -> bytes:
    buf = io.BytesIO()
    # PAX format keeps long names and exact sizes; no user/group names, numeric ids only.
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
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
    return buf.getvalue()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rootfs", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--name", required=True, help="full reference, e.g. ghcr.io/entramail/entramail-operator:dev")
    p.add_argument("--user", required=True)
    p.add_argument("--entrypoint", required=True)
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--label", action="append", default=[])
    p.add_argument("--expose", action="append", default=[])
    p.add_argument("--chown", action="append", default=[], help="PATH=UID:GID inside the image")
    a = p.parse_args()

    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    created = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    chown = {}
    for c in a.chown:
        path, ids = c.split("=", 1)
        uid, gid = ids.split(":")
        chown[path] = (int(uid), int(gid))
    tag = a.name.rsplit(":", 1)[1] if ":" in a.name.rsplit("/", 1)[-1] else "latest"

    # The layer stays uncompressed: ctr, podman and docker all accept plain tar layers, and the digest is stable.
    layer = layer_tar(a.rootfs, epoch, chown)
    layer_digest = sha256(layer)
    config = {
        "created": created,
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": a.user,
            "Entrypoint": [a.entrypoint],
            "Env": a.env,
            "WorkingDir": "/",
            "Labels": dict(kv.split("=", 1) for kv in a.label),
            "ExposedPorts": {port: {} for port in a.expose},
        },
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
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
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": len(layer)}
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
        (blob(layer_digest), layer),
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
    os.replace(tmp, a.out)
    print(f"{a.out}: {a.name} manifest {manifest_digest} ({len(layer) // 1024} KiB layer)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

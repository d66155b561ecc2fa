"""A tiny real base image for build tests, assembled from Debian's busybox-static.

:func:`make_busybox_layout` writes an OCI image layout holding one layer: ``/bin/busybox`` plus symbolic links
for the applets builds use (``sh``, ``echo``, ``cat``…), ``/tmp`` and an ``/etc/passwd`` with root. The layer is
deterministic (fixed times, owners and order), so the image's digest is stable across runs of one machine.
:func:`push_image` copies a layout into a registry with skopeo (credentials through an auth file, never argv).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from tests.support.registry import RunningRegistry, write_authfile

__all__ = ["APPLETS", "BUSYBOX", "BaseImage", "make_busybox_layout", "push_image"]

BUSYBOX = Path("/bin/busybox")
APPLETS = (
    "sh", "echo", "cat", "ls", "env", "true", "false", "sleep", "id", "mkdir", "test", "[", "printf", "rm",
    "cp", "mv", "touch", "grep", "wc", "head", "tail", "sed", "chmod", "ln", "pwd", "uname", "whoami",
)  # fmt: skip
_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass(frozen=True)
class BaseImage:
    """An OCI layout on disk and the digests inside it."""

    layout: Path
    manifest_digest: str
    config_digest: str
    layer_diff_id: str


def _layer_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def add(name: str, kind: bytes, *, mode: int, data: bytes = b"", target: str = "") -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime, info.uid, info.gid = kind, mode, 0, 0, 0
            info.uname = info.gname = "root"
            info.linkname = target
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

        for directory in ("bin", "etc", "root"):
            add(directory, tarfile.DIRTYPE, mode=0o755)
        add("tmp", tarfile.DIRTYPE, mode=0o1777)
        add("bin/busybox", tarfile.REGTYPE, mode=0o755, data=BUSYBOX.read_bytes())
        for applet in APPLETS:
            add(f"bin/{applet}", tarfile.SYMTYPE, mode=0o777, target="busybox")
        add("etc/passwd", tarfile.REGTYPE, mode=0o644, data=b"root:x:0:0:root:/root:/bin/sh\n")
        add("etc/group", tarfile.REGTYPE, mode=0o644, data=b"root:x:0:\n")
    return buf.getvalue()


def _write_blob(layout: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return f"sha256:{digest}"


def make_busybox_layout(layout: Path, *, env: dict[str, str] | None = None, tag: str = "latest") -> BaseImage:
    """Write the busybox image as an OCI layout at ``layout`` (created) tagged ``tag``."""
    (layout / "blobs" / "sha256").mkdir(parents=True)
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    raw = _layer_tar()
    diff_id = f"sha256:{hashlib.sha256(raw).hexdigest()}"
    compressed = gzip.compress(raw, compresslevel=1, mtime=0)
    layer_digest = _write_blob(layout, compressed)
    variables = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **(env or {})}
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {"Env": [f"{k}={v}" for k, v in variables.items()], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "tests.support.baseimage"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_digest = _write_blob(layout, config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": _OCI_MANIFEST,
        "config": {"mediaType": _OCI_CONFIG, "digest": config_digest, "size": len(config_bytes)},
        "layers": [{"mediaType": _OCI_LAYER_GZIP, "digest": layer_digest, "size": len(compressed)}],
    }
    manifest_bytes = json.dumps(manifest, sort_keys=True).encode()
    manifest_digest = _write_blob(layout, manifest_bytes)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": _OCI_MANIFEST,
                "digest": manifest_digest,
                "size": len(manifest_bytes),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (layout / "index.json").write_text(json.dumps(index))
    return BaseImage(layout, manifest_digest, config_digest, diff_id)


def push_image(image: BaseImage, registry: RunningRegistry, repository: str, tag: str, workdir: Path) -> str:
    """Copy ``image`` to ``registry`` as ``repository:tag`` with skopeo; return ``host/repository:tag``."""
    reference = f"{registry.host}/{repository}:{tag}"
    args = ["skopeo", "copy", "--quiet", "--dest-tls-verify=false"]
    if registry.credentials is not None:
        username, password = registry.credentials
        authfile = write_authfile(
            workdir / f"skopeo-auth-{registry.host.replace(':', '_')}.json", registry.host, username, password
        )
        args.append(f"--dest-authfile={authfile}")
    source_tag = json.loads((image.layout / "index.json").read_text())["manifests"][0]["annotations"][
        "org.opencontainers.image.ref.name"
    ]
    args += [f"oci:{image.layout}:{source_tag}", f"docker://{reference}"]
    subprocess.run(args, check=True, capture_output=True, timeout=120)
    return reference

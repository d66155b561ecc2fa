"""Reading an OCI image layout in tests: the tagged manifest, its config, and the files of its layers."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class LayoutImage:
    manifest_digest: str
    manifest: dict[str, Any]
    config: dict[str, Any]
    layers: list[dict[str, tarfile.TarInfo]]
    layer_bytes: list[dict[str, bytes]]

    def file(self, path: str) -> bytes | None:
        """Content of ``path`` (no leading slash) in the top-most layer that has it as a regular file."""
        for files in reversed(self.layer_bytes):
            if path in files:
                return files[path]
        return None

    def member(self, path: str) -> tarfile.TarInfo | None:
        for members in reversed(self.layers):
            if path in members:
                return members[path]
        return None

    @property
    def env(self) -> dict[str, str]:
        pairs = (item.split("=", 1) for item in self.config.get("config", {}).get("Env", []))
        return dict(pairs)


def _blob(layout: Path, digest: str) -> bytes:
    algorithm, _, hexdigest = digest.partition(":")
    data = (layout / "blobs" / algorithm / hexdigest).read_bytes()
    assert hashlib.sha256(data).hexdigest() == hexdigest, f"blob {digest} does not match its digest"
    return data


def read_layout(layout: Path, tag: str = "latest") -> LayoutImage:
    """Load the image tagged ``tag``; every blob is checked against its digest, and the layer count against
    the config's ``rootfs.diff_ids``."""
    assert json.loads((layout / "oci-layout").read_text())["imageLayoutVersion"] == "1.0.0"
    index = json.loads((layout / "index.json").read_text())
    (descriptor,) = [
        m for m in index["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag
    ]
    manifest = json.loads(_blob(layout, descriptor["digest"]))
    config = json.loads(_blob(layout, manifest["config"]["digest"]))
    assert len(manifest["layers"]) == len(config["rootfs"]["diff_ids"])
    layers: list[dict[str, tarfile.TarInfo]] = []
    contents: list[dict[str, bytes]] = []
    for layer in manifest["layers"]:
        raw = _blob(layout, layer["digest"])
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        members: dict[str, tarfile.TarInfo] = {}
        files: dict[str, bytes] = {}
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            for info in tar.getmembers():
                name = info.name.removeprefix("./").rstrip("/")
                members[name] = info
                if info.isfile():
                    extracted = tar.extractfile(info)
                    assert extracted is not None
                    files[name] = extracted.read()
        layers.append(members)
        contents.append(files)
    return LayoutImage(descriptor["digest"], manifest, config, layers, contents)

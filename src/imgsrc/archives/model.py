"""What the image-archive readers produce — descriptors and a :class:`LocalImage` — and the media types involved.

Digests are ``sha256:<64 lowercase hex>`` strings, the only algorithm the content store keeps; a descriptor
naming another algorithm is refused when parsed (that also keeps digests safe to use in file paths).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, NamedTuple

__all__ = [
    "CONFIG_TYPES",
    "DIGEST_RE",
    "DOCKER_CONFIG",
    "DOCKER_LAYER",
    "DOCKER_LAYER_GZIP",
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "GZIP_LAYER_TYPES",
    "INDEX_TYPES",
    "LAYER_TYPES",
    "MANIFEST_TYPES",
    "OCI_CONFIG",
    "OCI_INDEX",
    "OCI_LAYER",
    "OCI_LAYER_GZIP",
    "OCI_LAYER_ZSTD",
    "OCI_MANIFEST",
    "UNCOMPRESSED_LAYER_TYPES",
    "Descriptor",
    "LocalImage",
    "LocalLayer",
    "Platform",
    "SourceFormat",
    "UploadLimits",
]

OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG: Final = "application/vnd.oci.image.config.v1+json"
OCI_LAYER: Final = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP: Final = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD: Final = "application/vnd.oci.image.layer.v1.tar+zstd"
_OCI_NONDIST: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar"
DOCKER_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST: Final = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG: Final = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER: Final = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP: Final = "application/vnd.docker.image.rootfs.diff.tar.gzip"

MANIFEST_TYPES: Final = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES: Final = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
CONFIG_TYPES: Final = frozenset({OCI_CONFIG, DOCKER_CONFIG})
UNCOMPRESSED_LAYER_TYPES: Final = frozenset({OCI_LAYER, DOCKER_LAYER, _OCI_NONDIST})
GZIP_LAYER_TYPES: Final = frozenset({OCI_LAYER_GZIP, DOCKER_LAYER_GZIP, _OCI_NONDIST + "+gzip"})
LAYER_TYPES: Final = UNCOMPRESSED_LAYER_TYPES | GZIP_LAYER_TYPES | {OCI_LAYER_ZSTD, _OCI_NONDIST + "+zstd"}

DIGEST_RE: Final = re.compile(r"sha256:[a-f0-9]{64}")

SourceFormat = Literal["docker-archive", "oci-layout"]


@dataclass(frozen=True)
class UploadLimits:
    """Bounds on an uploaded archive: bytes of file data, members, and the size of each JSON document
    (manifest.json, index.json, manifests, configs) that is read into memory."""

    max_bytes: int
    max_entries: int
    max_metadata_bytes: int = 4 * 1024 * 1024


@dataclass(frozen=True)
class Platform:
    """``os/architecture[/variant]`` as written in settings (``linux/amd64``, ``linux/arm64/v8``)."""

    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(f"platform must be os/architecture[/variant], not {text!r}")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    def matches(self, other: Platform) -> bool:
        """Whether ``other`` (from an index) satisfies this wanted platform; an unwanted variant is ignored."""
        if (self.os, self.architecture) != (other.os, other.architecture):
            return False
        if self.variant is None:
            return True
        # arm64 images rarely spell out their only variant.
        default = "v8" if self.architecture == "arm64" else None
        return self.variant == (other.variant or default)

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor (the fields this project uses)."""

    media_type: str
    digest: str
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict, hash=False)
    platform: Platform | None = None

    def to_json(self) -> dict[str, Any]:
        """The descriptor as it appears in a manifest (mediaType, digest, size and annotations if any)."""
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


class LocalLayer(NamedTuple):
    """A layer: its descriptor and the file holding its blob (verified against the descriptor)."""

    descriptor: Descriptor
    path: Path


@dataclass(frozen=True)
class LocalImage:
    """One image read from an archive or a layout directory, every digest and size verified.

    ``manifest`` is the exact byte string to store and serve (its sha256 is ``manifest_digest``); ``config`` the
    exact config blob. ``index_digest`` is the index the platform was chosen from, if any. ``tags`` are the
    names the archive gave the image (``RepoTags``, or the index's name annotations), for information only.
    """

    manifest: bytes
    manifest_media_type: str
    manifest_digest: str
    config: bytes
    config_descriptor: Descriptor
    layers: tuple[LocalLayer, ...]
    source_format: SourceFormat
    tags: tuple[str, ...] = ()
    index_digest: str | None = None

    @property
    def size(self) -> int:
        """Bytes the image occupies as stored: config plus layers (as the Image resource reports it)."""
        return self.config_descriptor.size + sum(layer.descriptor.size for layer in self.layers)

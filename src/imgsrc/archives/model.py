"""What the image-archive readers produce — descriptors and a :class:`LocalImage` — and the media types involved.

Digests are ``sha256:<64 lowercase hex>`` strings, the only algorithm the content store keeps; a descriptor
naming another algorithm is refused when parsed (that also keeps digests safe to use in file paths).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, NamedTuple

from imgsrc.oci import (
    CONFIG_MEDIA_TYPES,
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_LAYER_TAR,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    GZIP_LAYER_MEDIA_TYPES,
    INDEX_MEDIA_TYPES,
    LAYER_MEDIA_TYPES,
    MANIFEST_MEDIA_TYPES,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_LAYER_TAR,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
    UNCOMPRESSED_LAYER_MEDIA_TYPES,
    Descriptor,
    Platform,
)

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
    "KeptIndex",
    "LocalImage",
    "LocalLayer",
    "LocalManifest",
    "Platform",
    "SourceFormat",
    "UploadLimits",
]

# Media types are those of the OCI image spec (``imgsrc.oci``); these are the names the readers use.
OCI_LAYER: Final = OCI_LAYER_TAR
DOCKER_LAYER: Final = DOCKER_LAYER_TAR
MANIFEST_TYPES: Final = MANIFEST_MEDIA_TYPES
INDEX_TYPES: Final = INDEX_MEDIA_TYPES
CONFIG_TYPES: Final = CONFIG_MEDIA_TYPES
UNCOMPRESSED_LAYER_TYPES: Final = UNCOMPRESSED_LAYER_MEDIA_TYPES
GZIP_LAYER_TYPES: Final = GZIP_LAYER_MEDIA_TYPES
LAYER_TYPES: Final = LAYER_MEDIA_TYPES

DIGEST_RE: Final = re.compile(r"sha256:[a-f0-9]{64}")

SourceFormat = Literal["docker-archive", "oci-layout"]


@dataclass(frozen=True)
class UploadLimits:
    """Bounds on an uploaded archive: bytes of file data, members, and the size of each JSON document
    (manifest.json, index.json, manifests, configs) that is read into memory."""

    max_bytes: int
    max_entries: int
    max_metadata_bytes: int = 4 * 1024 * 1024


class LocalLayer(NamedTuple):
    """A layer: its descriptor and the file holding its blob (verified against the descriptor)."""

    descriptor: Descriptor
    path: Path


@dataclass(frozen=True)
class LocalManifest:
    """Another entry of an index kept whole: its exact bytes, and the files of its config and layers (verified)."""

    digest: str
    raw: bytes
    media_type: str
    config: LocalLayer
    layers: tuple[LocalLayer, ...]
    platform: Platform | None
    is_image: bool

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, len(self.raw))


@dataclass(frozen=True)
class KeptIndex:
    """The index an image's platform was chosen from, kept whole: its exact bytes and its other entries."""

    digest: str
    raw: bytes
    media_type: str
    others: tuple[LocalManifest, ...]

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, len(self.raw))


@dataclass(frozen=True)
class LocalImage:
    """One image read from an archive or a layout directory, every digest and size verified.

    ``manifest`` is the exact byte string to store and serve (its sha256 is ``manifest_digest``); ``config`` the
    exact config blob. ``index_digest`` is the index the platform was chosen from, if any. ``tags`` are the
    names the archive gave the image (``RepoTags``, or the index's name annotations), for information only.
    ``index`` is that index kept whole (when asked for and complete); ``index_note`` says why it was not.
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
    index: KeptIndex | None = None
    index_note: str | None = None

    @property
    def size(self) -> int:
        """Bytes the image occupies as stored: config plus layers (as the Image resource reports it)."""
        return self.config_descriptor.size + sum(layer.descriptor.size for layer in self.layers)

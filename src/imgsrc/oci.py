"""OCI image-spec value objects shared by every adapter that reads images: media types, platforms, descriptors.
Pure; no I/O. The registry client, the archive readers and the content store speak in these terms."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from imgsrc.errors import InvalidArgumentError

__all__ = [
    "CONFIG_MEDIA_TYPES",
    "DOCKER_CONFIG",
    "DOCKER_LAYER_FOREIGN",
    "DOCKER_LAYER_GZIP",
    "DOCKER_LAYER_TAR",
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "GZIP_LAYER_MEDIA_TYPES",
    "INDEX_MEDIA_TYPES",
    "LAYER_MEDIA_TYPES",
    "MANIFEST_MEDIA_TYPES",
    "NONDISTRIBUTABLE_LAYER_MEDIA_TYPES",
    "OCI_CONFIG",
    "OCI_INDEX",
    "OCI_LAYER_GZIP",
    "OCI_LAYER_NONDISTRIBUTABLE_GZIP",
    "OCI_LAYER_NONDISTRIBUTABLE_TAR",
    "OCI_LAYER_NONDISTRIBUTABLE_ZSTD",
    "OCI_LAYER_TAR",
    "OCI_LAYER_ZSTD",
    "OCI_MANIFEST",
    "SCHEMA1_MEDIA_TYPES",
    "UNCOMPRESSED_LAYER_MEDIA_TYPES",
    "Descriptor",
    "Platform",
]

DOCKER_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST: Final = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG: Final = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_TAR: Final = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP: Final = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_FOREIGN: Final = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG: Final = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR: Final = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP: Final = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD: Final = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDISTRIBUTABLE_TAR: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDISTRIBUTABLE_GZIP: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_NONDISTRIBUTABLE_ZSTD: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
SCHEMA1_MEDIA_TYPES: Final = frozenset(
    {
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    }
)

MANIFEST_MEDIA_TYPES: Final = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})
INDEX_MEDIA_TYPES: Final = frozenset({DOCKER_MANIFEST_LIST, OCI_INDEX})
CONFIG_MEDIA_TYPES: Final = frozenset({DOCKER_CONFIG, OCI_CONFIG})
UNCOMPRESSED_LAYER_MEDIA_TYPES: Final = frozenset({OCI_LAYER_TAR, DOCKER_LAYER_TAR, OCI_LAYER_NONDISTRIBUTABLE_TAR})
GZIP_LAYER_MEDIA_TYPES: Final = frozenset(
    {OCI_LAYER_GZIP, DOCKER_LAYER_GZIP, DOCKER_LAYER_FOREIGN, OCI_LAYER_NONDISTRIBUTABLE_GZIP}
)
LAYER_MEDIA_TYPES: Final = (
    UNCOMPRESSED_LAYER_MEDIA_TYPES | GZIP_LAYER_MEDIA_TYPES | {OCI_LAYER_ZSTD, OCI_LAYER_NONDISTRIBUTABLE_ZSTD}
)
NONDISTRIBUTABLE_LAYER_MEDIA_TYPES: Final = frozenset(
    {
        DOCKER_LAYER_FOREIGN,
        OCI_LAYER_NONDISTRIBUTABLE_TAR,
        OCI_LAYER_NONDISTRIBUTABLE_GZIP,
        OCI_LAYER_NONDISTRIBUTABLE_ZSTD,
    }
)
"""Layers a manifest may say are served elsewhere (its ``urls``: Windows base layers), not by the registry."""

# Architecture spellings seen in the wild, normalised as containerd does.
_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm", "armel": "arm"}
_DEFAULT_VARIANTS = {"arm64": "v8", "arm": "v7"}


@dataclass(frozen=True)
class Platform:
    """``os/architecture[/variant]`` as in image indexes and settings."""

    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse ``linux/amd64`` or ``linux/arm/v7`` (architecture aliases such as ``x86_64`` normalised);
        malformed text is an :class:`~imgsrc.errors.InvalidArgumentError` (it comes from settings or users)."""
        parts = text.strip().lower().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise InvalidArgumentError(f"invalid platform {text!r}: expected os/architecture[/variant]")
        arch = _ARCH_ALIASES.get(parts[1], parts[1])
        return cls(parts[0], arch, parts[2] if len(parts) == 3 else None)

    def matches(self, other: Platform) -> bool:
        """Whether an index entry for ``other`` can serve a request for ``self`` (a missing variant stands
        for the architecture's default one: ``arm64`` = ``arm64/v8``, ``arm`` = ``arm/v7``)."""
        if (self.os, self.architecture) != (other.os, _ARCH_ALIASES.get(other.architecture, other.architecture)):
            return False
        return self.variant is None or self.normalised_variant == other.normalised_variant

    @property
    def normalised_variant(self) -> str | None:
        """The variant, or the architecture's default one when none is given."""
        arch = _ARCH_ALIASES.get(self.architecture, self.architecture)
        return self.variant or _DEFAULT_VARIANTS.get(arch)

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass(frozen=True)
class Descriptor:
    """A content descriptor: what a manifest or index says about one blob or manifest."""

    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    urls: tuple[str, ...] = ()
    annotations: Mapping[str, str] = field(default_factory=dict, hash=False)

    @property
    def served_elsewhere(self) -> bool:
        """A foreign / non-distributable layer the manifest says to fetch from its ``urls``, not the registry."""
        return bool(self.urls) and self.media_type in NONDISTRIBUTABLE_LAYER_MEDIA_TYPES

    def to_json(self) -> dict[str, Any]:
        """The descriptor as written in a manifest (mediaType, digest, size, and urls/annotations when set)."""
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

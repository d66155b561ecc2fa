"""Manifests, indexes and image configs: media types, typed parsing, validation and platform selection.

Only what an image import can use is accepted: Docker schema 2 and OCI manifests, Docker manifest lists and OCI
indexes, whose config is a container image config. Schema 1 manifests and unknown media types are refused with
a :class:`~imgsrc.errors.RegistryError` that says so; documents larger than the bound (settings'
``max_manifest_bytes``, 4 MiB) are refused before being parsed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from imgsrc.errors import IntegrityError, InvalidArgumentError, RegistryError
from imgsrc.oci import (
    CONFIG_MEDIA_TYPES,
    DOCKER_CONFIG,
    DOCKER_LAYER_FOREIGN,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    INDEX_MEDIA_TYPES,
    LAYER_MEDIA_TYPES,
    MANIFEST_MEDIA_TYPES,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_LAYER_NONDISTRIBUTABLE_GZIP,
    OCI_LAYER_NONDISTRIBUTABLE_TAR,
    OCI_LAYER_NONDISTRIBUTABLE_ZSTD,
    OCI_LAYER_TAR,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
    SCHEMA1_MEDIA_TYPES,
    Descriptor,
    Platform,
)
from imgsrc.reference import Digest

__all__ = [
    "CONFIG_MEDIA_TYPES",
    "DOCKER_CONFIG",
    "DOCKER_LAYER_FOREIGN",
    "DOCKER_LAYER_GZIP",
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "INDEX_MEDIA_TYPES",
    "LAYER_MEDIA_TYPES",
    "MANIFEST_ACCEPT",
    "MANIFEST_MEDIA_TYPES",
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
    "Descriptor",
    "ImageConfig",
    "ImageIndex",
    "ImageManifest",
    "Platform",
    "parse_config",
    "parse_manifest",
    "select_platform",
]

#: The ``Accept`` header of manifest requests: every type we can use, none we would refuse.
MANIFEST_ACCEPT = ", ".join([OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST])
_GENERIC_CONTENT_TYPES = frozenset({"", "application/json", "text/plain", "application/octet-stream"})


@dataclass(frozen=True)
class ImageManifest:
    """A single-platform image manifest (Docker schema 2 or OCI)."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]

    @property
    def is_image(self) -> bool:
        """A runnable container image (an image config, image layers), not an attestation or artifact."""
        return self.config.media_type in CONFIG_MEDIA_TYPES and all(
            layer.media_type in LAYER_MEDIA_TYPES for layer in self.layers
        )


@dataclass(frozen=True)
class ImageIndex:
    """A multi-platform index (Docker manifest list or OCI index)."""

    media_type: str
    manifests: tuple[Descriptor, ...]


@dataclass(frozen=True)
class ImageConfig:
    """The parts of an image config that the import checks."""

    os: str
    architecture: str
    variant: str | None
    diff_ids: tuple[str, ...]


def _fail(detail: str, where: str) -> RegistryError:
    return RegistryError(f"{where}: {detail}")


def _load_json(raw: bytes, what: str, where: str, max_bytes: int) -> dict[str, Any]:
    if len(raw) > max_bytes:
        raise _fail(f"{what} is {len(raw)} bytes, more than the limit of {max_bytes}", where)
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _fail(f"{what} is not valid JSON ({exc.__class__.__name__})", where) from exc
    if not isinstance(document, dict):
        raise _fail(f"{what} is not a JSON object", where)
    return document


def _descriptor(value: object, where: str, *, with_platform: bool = False) -> Descriptor:
    if not isinstance(value, Mapping):
        raise _fail("descriptor is not an object", where)
    media_type, digest, size = value.get("mediaType"), value.get("digest"), value.get("size")
    if not isinstance(media_type, str) or not isinstance(digest, str):
        raise _fail("descriptor lacks mediaType or digest", where)
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _fail(f"descriptor {digest} has an invalid size", where)
    try:
        canonical = str(Digest.parse(digest))
    except InvalidArgumentError as exc:
        raise _fail(f"descriptor digest {digest!r} is invalid", where) from exc
    platform = None
    raw_platform = value.get("platform")
    if with_platform and isinstance(raw_platform, Mapping):
        os_name, arch = raw_platform.get("os"), raw_platform.get("architecture")
        variant = raw_platform.get("variant")
        if isinstance(os_name, str) and isinstance(arch, str):
            platform = Platform(os_name, arch, variant if isinstance(variant, str) and variant else None)
    urls = value.get("urls")
    url_tuple = tuple(u for u in urls if isinstance(u, str)) if isinstance(urls, list) else ()
    return Descriptor(media_type, canonical, size, platform, url_tuple)


def _media_type(content_type: str | None, document: Mapping[str, Any], where: str) -> str:
    header = (content_type or "").split(";")[0].strip().lower()
    body_type = document.get("mediaType")
    body_type = body_type if isinstance(body_type, str) else None
    if header in SCHEMA1_MEDIA_TYPES or body_type in SCHEMA1_MEDIA_TYPES or document.get("schemaVersion") == 1:
        raise _fail(
            "Docker schema 1 manifests are not supported (deprecated format); push the image again with a "
            "current Docker or use an OCI / schema 2 tag",
            where,
        )
    if header not in _GENERIC_CONTENT_TYPES:
        media_type = header
    elif body_type is not None:
        media_type = body_type
    elif "manifests" in document:
        media_type = OCI_INDEX
    elif "config" in document:
        media_type = OCI_MANIFEST
    else:
        raise _fail("manifest has no media type", where)
    if media_type not in MANIFEST_MEDIA_TYPES | INDEX_MEDIA_TYPES:
        raise _fail(f"unsupported manifest media type {media_type!r}", where)
    if body_type is not None and body_type != media_type:
        raise _fail(f"manifest says mediaType {body_type!r} but was served as {media_type!r}", where)
    if document.get("schemaVersion") != 2:
        raise _fail("manifest schemaVersion is not 2", where)
    return media_type


def parse_manifest(
    raw: bytes, content_type: str | None, *, where: str, max_bytes: int = 4 * 1024 * 1024, strict: bool = True
) -> ImageManifest | ImageIndex:
    """Parse and validate a manifest or index served with ``content_type``.

    ``where`` names the document in messages (``"registry.example.com/team/app@sha256:…"``). ``strict=False``
    accepts any config and layer media types: the other entries of an index kept whole may be attestations or
    artifacts (``application/vnd.in-toto+json`` layers), which are stored and served, never run.
    """
    document = _load_json(raw, "manifest", where, max_bytes)
    media_type = _media_type(content_type, document, where)
    if media_type in INDEX_MEDIA_TYPES:
        entries = document.get("manifests")
        if not isinstance(entries, list):
            raise _fail("index has no manifests list", where)
        return ImageIndex(media_type, tuple(_descriptor(e, where, with_platform=True) for e in entries))
    config = _descriptor(document.get("config"), where)
    if strict and config.media_type not in CONFIG_MEDIA_TYPES:
        raise _fail(f"not a container image: config media type {config.media_type!r}", where)
    raw_layers = document.get("layers")
    if not isinstance(raw_layers, list):
        raise _fail("manifest has no layers list", where)
    layers = tuple(_descriptor(layer, where) for layer in raw_layers)
    for layer in layers if strict else ():
        if layer.media_type not in LAYER_MEDIA_TYPES:
            raise _fail(f"unsupported layer media type {layer.media_type!r} ({layer.digest})", where)
    return ImageManifest(media_type, config, layers)


def select_platform(index: ImageIndex, platform: Platform, *, where: str) -> Descriptor:
    """The entry of ``index`` for ``platform``: an exact variant match first, then a compatible one.

    Entries that are not image manifests (nested indexes, attestations with ``unknown/unknown``) never match.
    """
    candidates = [
        d
        for d in index.manifests
        if d.media_type in MANIFEST_MEDIA_TYPES and d.platform is not None and platform.matches(d.platform)
    ]
    wanted = platform.normalised_variant
    exact = [d for d in candidates if d.platform is not None and d.platform.normalised_variant == wanted]
    chosen = exact or candidates
    if not chosen:
        available = sorted({str(d.platform) for d in index.manifests if d.platform is not None})
        raise _fail(f"no image for platform {platform} (available: {', '.join(available) or 'none'})", where)
    return chosen[0]


def parse_config(
    raw: bytes, layers: Sequence[Descriptor], *, where: str, max_bytes: int = 4 * 1024 * 1024
) -> ImageConfig:
    """Parse an image config and check that it has one ``rootfs.diff_ids`` entry per layer of the manifest.

    A malformed config is a :class:`RegistryError`; a layer count that disagrees is an
    :class:`~imgsrc.errors.IntegrityError`.
    """
    document = _load_json(raw, "image config", where, max_bytes)
    rootfs = document.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, Mapping) else None
    if not isinstance(diff_ids, list) or not all(isinstance(d, str) for d in diff_ids):
        raise _fail("image config has no rootfs.diff_ids list", where)
    if len(diff_ids) != len(layers):
        raise IntegrityError(
            f"{where}: image config lists {len(diff_ids)} layers (rootfs.diff_ids) but the manifest has {len(layers)}"
        )
    os_name, arch, variant = document.get("os"), document.get("architecture"), document.get("variant")
    return ImageConfig(
        os=os_name if isinstance(os_name, str) else "",
        architecture=arch if isinstance(arch, str) else "",
        variant=variant if isinstance(variant, str) and variant else None,
        diff_ids=tuple(diff_ids),
    )

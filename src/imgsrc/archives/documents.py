"""The JSON documents of an image (index, manifest, config, docker's manifest.json), parsed strictly, and the
checks that bind a config to its layers.

Parsing is strict on purpose: a duplicate key is refused (parsers disagree on which copy wins, and such a
difference is how a manifest shows one thing to a verifier and another to a runtime), and a wrong type is an
ArchiveError naming the document, never a ``KeyError`` or ``TypeError`` escaping from deep inside.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from imgsrc.archives.model import (
    DIGEST_RE,
    GZIP_LAYER_TYPES,
    UNCOMPRESSED_LAYER_TYPES,
    Descriptor,
    LocalLayer,
    Platform,
)
from imgsrc.errors import ArchiveError, IntegrityError

__all__ = [
    "check_config",
    "hash_file",
    "load_json",
    "object_field",
    "parse_descriptor",
    "parse_digest",
    "uncompressed_digest",
]

_CHUNK: Final = 1 << 20


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def load_json(data: bytes, what: str) -> Any:
    """Parse ``data`` as UTF-8 JSON; ArchiveError naming ``what`` if it is not, or repeats a key."""
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as exc:
        raise ArchiveError(f"{what} is not valid JSON: {exc}") from None


def object_field(doc: Any, key: str, kind: type | tuple[type, ...], what: str, *, required: bool = True) -> Any:
    """``doc[key]`` checked to be of ``kind`` (``None`` when absent and not ``required``)."""
    if not isinstance(doc, dict):
        raise ArchiveError(f"{what} is not a JSON object")
    value = doc.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ArchiveError(f"{what}: field {key!r} is missing or of the wrong type")
    return value


def parse_digest(value: Any, what: str) -> str:
    """A ``sha256:<hex>`` digest; other algorithms and malformed digests are refused."""
    if not isinstance(value, str) or not DIGEST_RE.fullmatch(value):
        raise ArchiveError(f"{what}: unsupported or malformed digest {str(value)[:100]!r} (sha256 only)")
    return value


def parse_descriptor(value: Any, what: str) -> Descriptor:
    """An OCI descriptor from its JSON form (mediaType, digest and a non-negative size are required)."""
    media_type = object_field(value, "mediaType", str, what)
    digest = parse_digest(object_field(value, "digest", str, what), what)
    size = object_field(value, "size", int, what)
    if size < 0:
        raise ArchiveError(f"{what}: negative size")
    annotations = object_field(value, "annotations", dict, what, required=False) or {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()):
        raise ArchiveError(f"{what}: annotations must map strings to strings")
    platform = None
    raw_platform = object_field(value, "platform", dict, what, required=False)
    if raw_platform is not None:
        variant = object_field(raw_platform, "variant", str, what, required=False)
        platform = Platform(
            object_field(raw_platform, "os", str, what),
            object_field(raw_platform, "architecture", str, what),
            variant or None,
        )
    urls = object_field(value, "urls", list, what, required=False) or []
    if not all(isinstance(u, str) for u in urls):
        raise ArchiveError(f"{what}: urls must be strings")
    return Descriptor(media_type, digest, size, platform=platform, urls=tuple(urls), annotations=annotations)


def hash_file(path: Path) -> tuple[str, int]:
    """sha256 digest and size of a file, read in bounded chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb", buffering=0) as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return f"sha256:{digest.hexdigest()}", size


def uncompressed_digest(path: Path) -> str:
    """sha256 of the decompressed content of a gzip file (a layer's diff_id), streamed."""
    digest = hashlib.sha256()
    try:
        with gzip.open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise IntegrityError(f"layer {path.name} is not valid gzip data: {exc}") from None
    return f"sha256:{digest.hexdigest()}"


def check_config(config: bytes, layers: Sequence[LocalLayer], *, verify_compressed: bool) -> None:
    """Check that ``config`` is an image config whose ``rootfs.diff_ids`` describe ``layers``.

    There must be exactly one diff_id per layer. An uncompressed layer's diff_id is its blob digest, so that
    is checked for free. A gzip layer's diff_id needs the layer decompressed; that is done only when
    ``verify_compressed`` (docker archives, whose manifest.json declares no digests at all). zstd layers are
    checked by count only (no zstd decoder in the standard library).
    """
    doc = load_json(config, "image config")
    rootfs = object_field(doc, "rootfs", dict, "image config")
    if rootfs.get("type") != "layers":
        raise ArchiveError("image config: rootfs.type is not 'layers'")
    diff_ids = object_field(rootfs, "diff_ids", list, "image config")
    for position, diff_id in enumerate(diff_ids):
        parse_digest(diff_id, f"image config diff_ids[{position}]")
    if len(diff_ids) != len(layers):
        raise IntegrityError(f"image config lists {len(diff_ids)} diff_ids but the manifest has {len(layers)} layers")
    for position, (layer, diff_id) in enumerate(zip(layers, diff_ids, strict=True)):
        media_type = layer.descriptor.media_type
        if media_type in UNCOMPRESSED_LAYER_TYPES:
            actual = layer.descriptor.digest
        elif media_type in GZIP_LAYER_TYPES and verify_compressed:
            actual = uncompressed_digest(layer.path)
        else:
            continue
        if actual != diff_id:
            raise IntegrityError(
                f"layer {position} ({layer.descriptor.digest}) does not match the config's diff_id {diff_id}"
            )

"""Reading an image out of a ``docker save`` archive (``manifest.json`` with ``Config``, ``RepoTags``, ``Layers``).

Such an archive carries no manifest to store, so one is built: an **OCI image manifest** (chosen over Docker
schema 2 because it is the standard every current client reads, it can describe zstd layers, and it is what
``skopeo copy docker-archive:… oci:…`` produces too). Layers are kept exactly as they are in the archive — no
recompression — and typed by their magic bytes: ``application/vnd.oci.image.layer.v1.tar`` for plain tar
(what docker writes), ``+gzip`` or ``+zstd`` otherwise. The config blob is kept byte for byte, typed
``application/vnd.oci.image.config.v1+json`` (Docker's config format is the OCI one).

Checks: exactly one image (an archive of several is refused, not silently cut down — an upload fills one
image); every file named exists in the archive (found through the archive's own links, as docker and skopeo
link ``<id>/layer.tar`` to the real file); a config named ``<hex>.json`` or ``blobs/sha256/<hex>`` hashes to
that hex; ``rootfs.diff_ids`` match the layers one for one (a gzip layer is decompressed to check it).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Final

from imgsrc.archives.compression import Compression, sniff_file
from imgsrc.archives.documents import check_config, load_json, object_field
from imgsrc.archives.model import (
    OCI_CONFIG,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
    Descriptor,
    LocalImage,
    LocalLayer,
)
from imgsrc.archives.stage import StagedArchive
from imgsrc.errors import ArchiveError, IntegrityError

__all__ = ["image_from_docker_archive", "repo_tags"]

_CONFIG_NAME: Final = re.compile(r"(?:.*/)?([a-f0-9]{64})(?:\.json)?")
_LAYER_TYPES: Final = {
    Compression.NONE: OCI_LAYER,
    Compression.GZIP: OCI_LAYER_GZIP,
    Compression.ZSTD: OCI_LAYER_ZSTD,
}


def _single_entry(staged: StagedArchive) -> dict[str, object]:
    entries = load_json(staged.read("manifest.json"), "manifest.json")
    if not isinstance(entries, list) or not entries:
        raise ArchiveError("manifest.json lists no image")
    if len(entries) > 1:
        raise ArchiveError(f"manifest.json lists {len(entries)} images; an archive must hold exactly one image")
    entry = entries[0]
    if not isinstance(entry, dict):
        raise ArchiveError("manifest.json: entry is not a JSON object")
    return entry


def repo_tags(staged: StagedArchive) -> tuple[str, ...]:
    """``RepoTags`` of the single image of ``manifest.json``, or ``()`` when there is no such list."""
    tags = object_field(_single_entry(staged), "RepoTags", list, "manifest.json", required=False) or []
    if not all(isinstance(tag, str) for tag in tags):
        raise ArchiveError("manifest.json: RepoTags must be strings")
    return tuple(tags)


def image_from_docker_archive(staged: StagedArchive) -> LocalImage:
    """The image described by the archive's ``manifest.json``, with an OCI manifest built for it."""
    entry = _single_entry(staged)
    config_name = object_field(entry, "Config", str, "manifest.json")
    config_file = staged.file(config_name, what=f"config {config_name[:200]!r}")
    config = staged.read(config_name, what="config")
    named = _CONFIG_NAME.fullmatch(config_name)
    if named and f"sha256:{named.group(1)}" != config_file.digest:
        raise IntegrityError(f"config {config_name[:200]!r} hashes to {config_file.digest}")

    layers: list[LocalLayer] = []
    for position, name in enumerate(object_field(entry, "Layers", list, "manifest.json")):
        if not isinstance(name, str):
            raise ArchiveError(f"manifest.json: Layers[{position}] is not a string")
        layer = staged.file(name, what=f"layer {name[:200]!r}")
        compression = sniff_file(layer.path)
        if compression not in _LAYER_TYPES:
            raise ArchiveError(f"layer {name[:200]!r}: {compression.value} layers are not supported")
        layers.append(LocalLayer(Descriptor(_LAYER_TYPES[compression], layer.digest, layer.size), layer.path))
    check_config(config, layers, verify_compressed=True)

    config_descriptor = Descriptor(OCI_CONFIG, config_file.digest, config_file.size)
    manifest_doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config_descriptor.to_json(),
        "layers": [layer.descriptor.to_json() for layer in layers],
    }
    manifest = json.dumps(manifest_doc, separators=(",", ":")).encode()
    return LocalImage(
        manifest=manifest,
        manifest_media_type=OCI_MANIFEST,
        manifest_digest=f"sha256:{hashlib.sha256(manifest).hexdigest()}",
        config=config,
        config_descriptor=config_descriptor,
        layers=tuple(layers),
        source_format="docker-archive",
        tags=repo_tags(staged),
    )

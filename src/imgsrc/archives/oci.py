"""Reading an image out of an OCI image layout — in an uploaded tar or in a directory written by buildah.

From ``index.json`` to one image manifest: a nested index (multi-platform) is resolved to the wanted platform
(``linux/amd64`` unless told otherwise) or, when it offers no such platform, to its only image. Attestation
manifests (buildkit) are never chosen. An index listing several distinct images that the platform cannot tell
apart is refused: an archive must hold exactly one image. A platform-specific manifest that is absent from the
layout is skipped when it is not the one wanted (partial multi-platform exports are normal); any other absent
blob is an error.

Every blob used — indexes on the way, manifest, config, layers — is checked against its descriptor: the
content must hash to the digest and have the declared size. The config must list one diff_id per layer, and an
uncompressed layer's diff_id must equal its digest (compressed layers are checked by count: verifying them
would mean decompressing every layer).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final, Protocol

from imgsrc.archives.documents import check_config, hash_file, load_json, object_field, parse_descriptor
from imgsrc.archives.model import (
    CONFIG_TYPES,
    INDEX_TYPES,
    LAYER_TYPES,
    MANIFEST_TYPES,
    Descriptor,
    KeptIndex,
    LocalImage,
    LocalLayer,
    LocalManifest,
    Platform,
    SourceFormat,
)
from imgsrc.errors import ArchiveError, IntegrityError

__all__ = ["BlobSource", "DirectoryBlobs", "check_layout_marker", "image_from_index", "tags_from_annotations"]

_MAX_INDEX_DEPTH: Final = 3
_NAME_ANNOTATIONS: Final = ("io.containerd.image.name", "org.opencontainers.image.ref.name")


class BlobSource(Protocol):
    """Where the blobs of a layout are: ``blobs/sha256/<hex>`` of a tar or of a directory."""

    def has(self, digest: str) -> bool:
        """Whether a blob of that name exists (its content is not checked)."""
        ...

    def path(self, descriptor: Descriptor, what: str) -> Path:
        """The file of the blob, checked to hash to the descriptor's digest and to have its size."""
        ...


class DirectoryBlobs:
    """Blobs of a layout directory on disk, hashed when first used (each at most once)."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._verified: set[str] = set()

    def _file(self, digest: str) -> Path:
        return self._root / "blobs" / "sha256" / digest.removeprefix("sha256:")

    def has(self, digest: str) -> bool:
        return self._file(digest).is_file()

    def path(self, descriptor: Descriptor, what: str) -> Path:
        path = self._file(descriptor.digest)
        if not path.is_file() or path.is_symlink():
            raise ArchiveError(f"{what} {descriptor.digest} is missing from the layout")
        if descriptor.digest not in self._verified:
            size = path.stat().st_size
            if size != descriptor.size:
                raise IntegrityError(f"{what} {descriptor.digest} is {size} bytes, not {descriptor.size}")
            digest, _ = hash_file(path)
            if digest != descriptor.digest:
                raise IntegrityError(f"{what} {descriptor.digest}: content hashes to {digest}")
            self._verified.add(descriptor.digest)
        return path


def check_layout_marker(content: bytes) -> None:
    """The ``oci-layout`` file must declare a 1.x image layout."""
    version = object_field(load_json(content, "oci-layout"), "imageLayoutVersion", str, "oci-layout")
    if not version.startswith("1."):
        raise ArchiveError(f"oci-layout: unsupported imageLayoutVersion {version[:20]!r}")


def tags_from_annotations(descriptor: Descriptor) -> tuple[str, ...]:
    """The image name an index entry carries (containerd's full name preferred over the OCI ref name)."""
    for key in _NAME_ANNOTATIONS:
        if name := descriptor.annotations.get(key):
            return (name,)
    return ()


def _read_small(blobs: BlobSource, descriptor: Descriptor, what: str, limit: int) -> bytes:
    if descriptor.size > limit:
        raise ArchiveError(f"{what} of {descriptor.size} bytes is over the {limit} byte limit")
    return blobs.path(descriptor, what).read_bytes()


def _is_attestation(descriptor: Descriptor) -> bool:
    if descriptor.annotations.get("vnd.docker.reference.type") == "attestation-manifest":
        return True
    return descriptor.platform is not None and descriptor.platform.os == "unknown"


def _select(descriptors: Sequence[Descriptor], blobs: BlobSource, platform: Platform, where: str) -> Descriptor:
    images = [
        d
        for d in descriptors
        if d.media_type in MANIFEST_TYPES | INDEX_TYPES
        and not _is_attestation(d)
        # An other-platform manifest left out of a partial export is not an error.
        and (d.platform is None or platform.matches(d.platform) or blobs.has(d.digest))
    ]
    matching = [d for d in images if d.platform is not None and platform.matches(d.platform)]
    candidates = matching or images
    if len({d.digest for d in candidates}) == 1:
        return candidates[0]
    if not candidates:
        raise ArchiveError(f"{where} lists no image manifest")
    if not matching and all(d.platform is not None for d in images):
        offered = ", ".join(sorted({str(d.platform) for d in images}))
        raise ArchiveError(f"{where} has no image for platform {platform} (it offers {offered})")
    raise ArchiveError(f"{where} lists {len(candidates)} images; an archive must hold exactly one image")


def _descriptors(doc: object, what: str) -> list[Descriptor]:
    entries = object_field(doc, "manifests", list, what)
    return [parse_descriptor(entry, f"{what} manifests[{i}]") for i, entry in enumerate(entries)]


def image_from_index(
    index: bytes,
    blobs: BlobSource,
    *,
    platform: Platform,
    source_format: SourceFormat,
    metadata_limit: int,
    tags: tuple[str, ...] = (),
    keep_index: bool = False,
) -> LocalImage:
    """The one image that ``index`` (the content of ``index.json``) leads to, every blob verified.

    ``tags`` overrides the names found in the index annotations (docker archives carry better ones).
    ``keep_index`` also returns the (nested) index the platform was chosen from whole, every other entry and
    its blobs verified, when the layout holds all of them; a partial export keeps the one platform and says so
    in ``index_note``.
    """
    top = _descriptors(load_json(index, "index.json"), "index.json")
    chosen = _select(top, blobs, platform, "index.json")
    if not tags:  # one image may be listed once per name
        tags = tuple(dict.fromkeys(t for d in top if d.digest == chosen.digest for t in tags_from_annotations(d)))
    index_digest: str | None = None
    parent: tuple[Descriptor, bytes, list[Descriptor]] | None = None
    for _ in range(_MAX_INDEX_DEPTH):
        if chosen.media_type not in INDEX_TYPES:
            break
        what = f"index {chosen.digest}"
        raw_index = _read_small(blobs, chosen, what, metadata_limit)
        entries = _descriptors(load_json(raw_index, what), what)
        index_digest, parent = chosen.digest, (chosen, raw_index, entries)
        chosen = _select(entries, blobs, platform, what)
    if chosen.media_type not in MANIFEST_TYPES:
        raise ArchiveError(f"unsupported manifest media type {chosen.media_type[:100]!r}")

    manifest = _read_small(blobs, chosen, "manifest", metadata_limit)
    doc = load_json(manifest, "manifest")
    if object_field(doc, "schemaVersion", int, "manifest") != 2:
        raise ArchiveError("manifest: schemaVersion is not 2")
    declared = object_field(doc, "mediaType", str, "manifest", required=False)
    if declared is not None and declared != chosen.media_type:
        raise ArchiveError(f"manifest declares media type {declared[:100]!r} but is listed as {chosen.media_type}")

    config_descriptor = parse_descriptor(object_field(doc, "config", dict, "manifest"), "manifest config")
    if config_descriptor.media_type not in CONFIG_TYPES:
        raise ArchiveError(f"not a container image: config media type {config_descriptor.media_type[:100]!r}")
    config = _read_small(blobs, config_descriptor, "config", metadata_limit)

    layers: list[LocalLayer] = []
    for position, raw in enumerate(object_field(doc, "layers", list, "manifest")):
        what = f"layer {position}"
        descriptor = parse_descriptor(raw, f"manifest {what}")
        if descriptor.media_type not in LAYER_TYPES:
            raise ArchiveError(f"{what}: unsupported media type {descriptor.media_type[:100]!r}")
        layers.append(LocalLayer(descriptor, blobs.path(descriptor, what)))
    check_config(config, layers, verify_compressed=False)

    kept: KeptIndex | None = None
    note: str | None = None
    if keep_index and parent is not None:
        kept, note = _kept_index(parent, chosen, blobs, metadata_limit)
    return LocalImage(
        manifest=manifest,
        manifest_media_type=chosen.media_type,
        manifest_digest=chosen.digest,
        config=config,
        config_descriptor=config_descriptor,
        layers=tuple(layers),
        source_format=source_format,
        tags=tags,
        index_digest=index_digest,
        index=kept,
        index_note=note,
    )


def _kept_index(
    parent: tuple[Descriptor, bytes, list[Descriptor]], chosen: Descriptor, blobs: BlobSource, limit: int
) -> tuple[KeptIndex | None, str | None]:
    """The index ``chosen`` came from, whole, or (None, why not): every other entry must be a manifest whose
    blobs are all in the layout (foreign layers with ``urls`` excepted: they live where those say)."""
    descriptor, raw, entries = parent
    others: list[LocalManifest] = []
    for entry in {e.digest: e for e in entries if e.digest != chosen.digest}.values():
        what = f"manifest {entry.digest}"
        if entry.media_type not in MANIFEST_TYPES:
            return None, f"the index lists {entry.media_type[:100]!r} {entry.digest}, which cannot be kept"
        if not blobs.has(entry.digest):
            return None, f"the archive holds only part of the index ({entry.platform or entry.digest} is absent)"
        manifest = _read_small(blobs, entry, what, limit)
        doc = load_json(manifest, what)
        config = parse_descriptor(object_field(doc, "config", dict, what), f"{what} config")
        layers = [
            parse_descriptor(item, f"{what} layer {n}")
            for n, item in enumerate(object_field(doc, "layers", list, what))
        ]
        present = [d for d in (config, *layers) if not d.served_elsewhere]
        if not all(blobs.has(d.digest) for d in present):
            return None, f"the archive holds only part of the index (blobs of {entry.platform or entry.digest})"
        files = {d.digest: LocalLayer(d, blobs.path(d, f"{what} blob")) for d in present}
        local_layers = tuple(files[d.digest] for d in layers if d.digest in files)
        is_image = config.media_type in CONFIG_TYPES and all(d.media_type in LAYER_TYPES for d in layers)
        if is_image:
            check_config(_read_small(blobs, config, f"{what} config", limit), local_layers, verify_compressed=False)
        others.append(
            LocalManifest(
                entry.digest, manifest, entry.media_type, files[config.digest], local_layers, entry.platform, is_image
            )
        )
    return KeptIndex(descriptor.digest, raw, descriptor.media_type, tuple(others)), None

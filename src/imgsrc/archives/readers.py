"""The image readers: an uploaded archive (``docker save`` or OCI image-layout tar, plain or gzip) read from a
stream once, and an OCI image-layout directory (what ``buildah push … oci:<dir>`` writes).

Format detection for an archive: ``oci-layout`` and ``index.json`` present → OCI layout, even when a
``manifest.json`` is present too (docker 25+ writes both); then the stored manifest is the archive's own, byte
for byte, and ``RepoTags`` from ``manifest.json`` still name the image. Otherwise ``manifest.json`` → docker
archive (see :mod:`imgsrc.archives.docker`). Anything else is refused.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from imgsrc.archives.compression import Readable
from imgsrc.archives.docker import image_from_docker_archive, repo_tags
from imgsrc.archives.model import Descriptor, LocalImage, Platform, UploadLimits
from imgsrc.archives.oci import DirectoryBlobs, check_layout_marker, image_from_index
from imgsrc.archives.stage import StagedArchive, stage_archive
from imgsrc.errors import ArchiveError, IntegrityError

__all__ = ["DEFAULT_METADATA_BYTES", "read_image_archive", "read_oci_layout_dir"]

DEFAULT_METADATA_BYTES = 4 * 1024 * 1024


class _StagedBlobs:
    """The ``blobs/sha256/<hex>`` files of a received archive (content verified while it was received)."""

    def __init__(self, staged: StagedArchive) -> None:
        self._staged = staged

    @staticmethod
    def _name(digest: str) -> str:
        return "blobs/sha256/" + digest.removeprefix("sha256:")

    def has(self, digest: str) -> bool:
        return self._staged.has(self._name(digest))

    def path(self, descriptor: Descriptor, what: str) -> Path:
        try:
            staged = self._staged.file(self._name(descriptor.digest))
        except ArchiveError:
            raise ArchiveError(f"{what} {descriptor.digest} is missing from the archive") from None
        if staged.digest != descriptor.digest:  # reachable only through a link to other content
            raise IntegrityError(f"{what} {descriptor.digest}: content hashes to {staged.digest}")
        if staged.size != descriptor.size:
            raise IntegrityError(f"{what} {descriptor.digest} is {staged.size} bytes, not {descriptor.size}")
        return staged.path


def _interpret(staged: StagedArchive, platform: Platform, keep_index: bool) -> LocalImage:
    if staged.has("oci-layout") and staged.has("index.json"):
        check_layout_marker(staged.read("oci-layout"))
        return image_from_index(
            staged.read("index.json"),
            _StagedBlobs(staged),
            platform=platform,
            source_format="oci-layout",
            metadata_limit=staged.limits.max_metadata_bytes,
            tags=repo_tags(staged) if staged.has("manifest.json") else (),
            keep_index=keep_index,
        )
    if staged.has("manifest.json"):
        return image_from_docker_archive(staged)
    raise ArchiveError(
        "neither a docker save archive (no manifest.json) nor an OCI image layout (no oci-layout and index.json)"
    )


def _prepare(staging: Path) -> bool:
    """Make sure ``staging`` is an empty directory; True when this call created it."""
    if os.path.lexists(staging):
        if not staging.is_dir() or staging.is_symlink() or any(staging.iterdir()):
            raise FileExistsError(f"staging must be an empty directory: {staging}")
        return False
    staging.mkdir(parents=True)
    return True


def _clean(staging: Path, created: bool) -> None:
    # Staging holds only files this module named (digests, counters), never names taken from the archive.
    if created:
        shutil.rmtree(staging, ignore_errors=True)
        return
    for child in staging.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _keep_only(staged: StagedArchive, keep: set[Path]) -> None:
    for child in staged.blob_dir.iterdir():
        if child not in keep:
            child.unlink()


def read_image_archive(
    stream: Readable,
    staging: Path,
    limits: UploadLimits,
    *,
    platform: str = "linux/amd64",
    keep_index: bool = False,
) -> LocalImage:
    """Receive an image archive from ``stream`` — read once, sequentially, in bounded chunks — into
    ``staging`` (absent or an empty directory), and return the one image it holds, fully verified.
    ``keep_index``: see :func:`~imgsrc.archives.oci.image_from_index`.

    On success ``staging`` holds exactly the layer blobs (``blobs/sha256/<hex>``) the returned image points at
    (and the config and layer blobs of the other entries of an index kept whole); manifest and config are
    returned as bytes. On any failure (ArchiveError for a malformed, hostile or
    oversized archive, IntegrityError for content that does not match what it declares) ``staging`` is left
    empty, or removed if this call created it.
    """
    wanted = Platform.parse(platform)
    created = _prepare(staging)
    try:
        staged = stage_archive(stream, staging, limits)
        image = _interpret(staged, wanted, keep_index)
        others = image.index.others if image.index else ()
        kept = {layer.path for layer in image.layers}
        kept |= {blob.path for other in others for blob in (other.config, *other.layers)}
        _keep_only(staged, kept)
    except OSError as exc:
        _clean(staging, created)
        raise ArchiveError(f"cannot receive the archive: {exc.strerror or exc}") from exc
    except BaseException:
        _clean(staging, created)
        raise
    return image


def _read_bounded(path: Path, limit: int) -> bytes:
    with path.open("rb") as handle:
        content = handle.read(limit + 1)
    if len(content) > limit:
        raise ArchiveError(f"{path.name} is over the {limit} byte limit")
    return content


def read_oci_layout_dir(
    path: Path,
    *,
    platform: str = "linux/amd64",
    max_metadata_bytes: int = DEFAULT_METADATA_BYTES,
) -> LocalImage:
    """The image of the OCI image-layout directory ``path``, every blob it uses hashed and size-checked.

    Layer paths in the result point into ``path`` itself (nothing is copied). ArchiveError when the layout is
    malformed or incomplete, IntegrityError when a blob does not match its descriptor.
    """
    wanted = Platform.parse(platform)
    try:
        check_layout_marker(_read_bounded(path / "oci-layout", max_metadata_bytes))
        return image_from_index(
            _read_bounded(path / "index.json", max_metadata_bytes),
            DirectoryBlobs(path),
            platform=wanted,
            source_format="oci-layout",
            metadata_limit=max_metadata_bytes,
        )
    except FileNotFoundError as exc:
        missing = Path(str(exc.filename)).name
        raise ArchiveError(f"{path} is not an OCI image layout: {missing} is missing") from exc
    except OSError as exc:
        raise ArchiveError(f"cannot read the OCI layout at {path}: {exc.strerror or exc}") from exc

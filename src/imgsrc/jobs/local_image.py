"""Saving an image that is already on this machine — a build's OCI layout or a received upload — into the store.

Builds and uploads end the same way as registry imports: ``verifying`` (the config parses, one ``diff_id`` per
layer) → ``saving`` → ``live``. The readers of :mod:`imgsrc.archives` have already checked every digest and
size, so saving moves files instead of downloading them: the blobs are claimed in the database first (garbage
collection spares claimed blobs), then each layer file is renamed into the store — no copy, since work
directories live under ``<data_dir>/work`` on the store's filesystem — unless the store already holds that
digest (another image's layer: adopted, stored once). Config and manifest are small and written as bytes.

Work directories (:func:`work_directory`) hold a build's checkout and output or an upload's staging; whoever
makes one removes it with :func:`remove_work_directory`, in every outcome.
"""

from __future__ import annotations

import asyncio
import errno
import os
import secrets
import shutil
import stat
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from imgsrc.aio import finish_uncancelled
from imgsrc.archives import Descriptor, LocalImage, LocalLayer
from imgsrc.errors import UnknownError
from imgsrc.images import records
from imgsrc.images.config import config_summary, parse_image_config
from imgsrc.jobs.pipeline import ImportRun, human_bytes
from imgsrc.settings import Settings

__all__ = ["WORK_DIR", "remove_stale_work", "remove_work_directory", "save_local_image", "work_directory"]

WORK_DIR = "work"
"""Under the data directory: the parent of every build's and upload's work directory."""


def work_directory(settings: Settings, kind: str, image_id: str) -> Path:
    """A new private directory ``<data_dir>/work/<kind>-<image id>-<random>`` (0700). Blocking."""
    parent = settings.data_dir / WORK_DIR
    path = parent / f"{kind}-{image_id}-{secrets.token_hex(4)}"
    try:
        parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.mkdir(mode=0o700)
    except OSError as exc:
        raise UnknownError(f"could not create a work directory: {exc.strerror or exc}") from exc
    return path


def remove_stale_work(parent: Path, older_than_seconds: float) -> int:
    """Remove work directories left behind by a process that died mid-build or mid-upload (untouched for
    ``older_than_seconds``; live ones are removed by their own job). Blocking; returns how many went."""
    removed = 0
    cutoff = time.time() - older_than_seconds
    try:
        entries = list(parent.iterdir())
    except FileNotFoundError:
        return 0
    for entry in entries:
        try:
            info = entry.lstat()
            if stat.S_ISDIR(info.st_mode) and info.st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
        except OSError:
            continue
    return removed


async def remove_work_directory(path: Path) -> None:
    """Remove a work directory and everything in it; runs to the end even if the caller is cancelled."""
    await finish_uncancelled(asyncio.to_thread(shutil.rmtree, path, True))


def _move_file(source: Path, temp: Path) -> None:
    try:
        os.replace(source, temp)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise UnknownError(f"could not move a layer into the store: {exc.strerror or exc}") from exc
        shutil.copyfile(source, temp)  # the work directory is on another filesystem after all


def _mover(source: Path) -> Callable[[Path, Callable[[int], None]], Awaitable[None]]:
    """A ``fetch`` for :meth:`ImportRun.fetch_blob` that moves the verified local file to the temporary path."""

    async def fetch(temp: Path, moved: Callable[[int], None]) -> None:
        await asyncio.to_thread(_move_file, source, temp)

    return fetch


def _platform(document: dict[str, object]) -> str | None:
    parts = [document.get("os"), document.get("architecture"), document.get("variant")]
    if not (isinstance(parts[0], str) and isinstance(parts[1], str)):
        return None
    return "/".join(p for p in parts if isinstance(p, str) and p)


def _files(image: LocalImage) -> list[LocalLayer]:
    """The blob files to move into the store: the image's layers, then (an index kept whole) the configs and
    layers of its other entries; each digest once."""
    seen: dict[str, LocalLayer] = {layer.descriptor.digest: layer for layer in image.layers}
    for other in image.index.others if image.index else ():
        for blob in (other.config, *other.layers):
            seen.setdefault(blob.descriptor.digest, blob)
    return list(seen.values())


def _claims(image: LocalImage) -> list[records.BlobClaim]:
    """What the image references: (an index kept whole) the index and its other entries too."""
    others = image.index.others if image.index else ()
    return records.image_claims(
        Descriptor(image.manifest_media_type, image.manifest_digest, len(image.manifest)),
        image.config_descriptor,
        [layer.descriptor for layer in image.layers],
        index=image.index.descriptor if image.index else None,
        others=[(o.descriptor, o.config.descriptor, [layer.descriptor for layer in o.layers]) for o in others],
    )


async def save_local_image(run: ImportRun, image: LocalImage, *, reference: str | None) -> records.StoredImage:
    """Verify ``image``, store its blobs and make the image ``live`` (see the module docstring). The layer files
    the image points at are moved into the store (or left where they are when the store has them already).
    Returns what was stored."""
    await run.state("verifying")
    async with run.step("Verify", f"{len(image.layers)} layer(s)"):
        wire, gpu, document = parse_image_config(image.config, layers=len(image.layers))
        await run.log(config_summary(document))
        await run.log(f"manifest {image.manifest_digest} ({image.manifest_media_type})")
    await run.state("saving")
    files = _files(image)
    run.progress.bytes_total = sum(f.descriptor.size for f in files) + image.config_descriptor.size
    run.progress.layers_total = len(files)
    config = image.config_descriptor
    if image.index is not None:
        await run.log_kept_index(image.index.digest, image.index.others)
    elif image.index_note:
        await run.log(f"only platform {_platform(document)} kept: {image.index_note}")
    async with run.step("Save", f"{len(image.layers)} layer(s), {human_bytes(image.size)}"):
        await run.claim(_claims(image))
        for layer in files:
            descriptor = layer.descriptor
            short = descriptor.digest[:19]
            if await run.fetch_blob(descriptor.digest, descriptor.size, _mover(layer.path)):
                run.progress.layers_done += 1
                await run.log(f"layer {short} {human_bytes(descriptor.size)} stored")
            else:
                run.progress.layers_present += 1
                run.progress.per_blob[descriptor.digest] = descriptor.size
                await run.log(f"layer {short} {human_bytes(descriptor.size)} already stored")
        await run.put_document(image.config, config.digest)
        run.progress.per_blob[config.digest] = config.size
        documents = [(image.manifest, image.manifest_digest)]
        if image.index is not None:
            documents += [(other.raw, other.digest) for other in image.index.others]
            documents.append((image.index.raw, image.index.digest))
        for raw, digest in documents:
            await run.put_document(raw, digest)
        stored = records.StoredImage(
            manifest_digest=image.manifest_digest,
            manifest_media_type=image.manifest_media_type,
            index_digest=image.index_digest,
            platform=_platform(document),
            reference=reference,
            size=image.size,
            config=wire,
            requires_gpu=gpu,
            provider="local",
            file_name=f"blobs/sha256/{image.manifest_digest.split(':', 1)[1]}",
        )
        await run.report(flush=True)
        await run.finish(stored)
    return stored

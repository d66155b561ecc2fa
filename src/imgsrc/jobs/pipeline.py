"""The import pipeline: the steps every import, build and upload goes through, and their bookkeeping.

``new`` → ``downloading`` | ``building`` | ``uploading`` → ``verifying`` → ``saving`` → ``live``. Each step is
recorded on the job and in the image's build log. Blobs are claimed in the database before they are fetched,
fetched once whatever number of imports want them at the same time (the store's download slots), and committed
to the content store atomically. A failure records its message on the image (which returns to ``new``) and the
job, and leaves nothing behind: the import's temporary files go, and so do blobs it stored that nothing else
references. A cancellation because the process stops keeps the temporary files, so the next run resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from imgsrc.aio import finish_uncancelled
from imgsrc.db import Database
from imgsrc.errors import CancelledError, ImgsrcError, IntegrityError
from imgsrc.images import records
from imgsrc.jobs.context import JobContext
from imgsrc.oci import Platform
from imgsrc.settings import Settings
from imgsrc.store import FilesystemBlobStore
from imgsrc.store.external import ExternalRegistry, PushBlob
from imgsrc.vault import Vault
from imgsrc.wire import utcnow

__all__ = ["ImportRun", "IndexEntry", "PipelineDeps", "human_bytes"]

log = logging.getLogger(__name__)
_LOG_FLUSH_SECONDS = 0.5


class IndexEntry(Protocol):
    """What the build log says of another entry of an index kept whole."""

    @property
    def platform(self) -> Platform | None: ...

    @property
    def is_image(self) -> bool: ...


@dataclass
class PipelineDeps:
    """What the pipeline works with; built by the worker's composition."""

    settings: Settings
    db: Database
    vault: Vault
    store: FilesystemBlobStore
    external: ExternalRegistry | None = None


def human_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"  # pragma: no cover


@dataclass
class _Progress:
    bytes_total: int = 0
    layers_total: int = 0
    layers_present: int = 0
    layers_done: int = 0
    per_blob: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, int]:
        return {
            "bytes_done": sum(self.per_blob.values()),
            "bytes_total": self.bytes_total,
            "layers_total": self.layers_total,
            "layers_present": self.layers_present,
            "layers_done": self.layers_done,
        }


class ImportRun:
    """One run of one image's import: logging, states, blob fetching and the failure protocol."""

    def __init__(self, ctx: JobContext, deps: PipelineDeps, image_id: str, hub_id: str) -> None:
        self.ctx = ctx
        self.deps = deps
        self.image_id = image_id
        self.hub_id = hub_id
        self.started = time.monotonic()
        self.acknowledged = utcnow()
        self._log_buffer: list[str] = []
        self._log_flushed = 0.0
        self._temps: set[Path] = set()
        self._stored: set[str] = set()  # blobs this run put into the store (candidates for clean-up on failure)
        self.claims: list[records.BlobClaim] = []
        self.progress = _Progress()

    # --- the build log -------------------------------------------------------------------------------------------

    async def log(self, line: str) -> None:
        """Add a line to the build log (timestamped; written in batches a few times a second)."""
        elapsed = time.monotonic() - self.started
        self._log_buffer.append(f"[{elapsed:7.2f}s] {line.rstrip()}\n")
        if time.monotonic() - self._log_flushed >= _LOG_FLUSH_SECONDS:
            await self.flush_log()

    async def flush_log(self) -> None:
        if not self._log_buffer:
            return
        text, self._log_buffer = "".join(self._log_buffer), []
        self._log_flushed = time.monotonic()
        await self.ctx.run_sync(records.append_log, self.deps.db, self.image_id, self.hub_id, text)

    # --- states and steps ----------------------------------------------------------------------------------------

    async def state(self, state: str) -> None:
        await self.ctx.run_sync(records.set_state, self.deps.db, self.image_id, state)

    @contextlib.asynccontextmanager
    async def step(self, caption: str, description: str = "") -> AsyncIterator[None]:
        await self.log(f"== {caption}" + (f": {description}" if description else ""))
        async with self.ctx.step(caption, description):
            yield
        await self.flush_log()

    async def report(self, *, flush: bool = False) -> None:
        await self.ctx.progress(flush=flush, **self.progress.as_dict())

    # --- blobs ---------------------------------------------------------------------------------------------------

    async def claim(self, claims: list[records.BlobClaim]) -> None:
        """Record the blobs the image needs before fetching them (garbage collection spares claimed blobs)."""
        await self.ctx.run_sync(records.claim_blobs, self.deps.db, self.image_id, claims)
        self.claims = list(claims)

    async def adopt(self, digest: str) -> bool:
        """True if the store already holds the blob (now protected from garbage collection for a while)."""
        return bool(await self.ctx.run_sync(self.deps.store.adopt, digest))

    async def fetch_blob(
        self, digest: str, size: int, fetch: Callable[[Path, Callable[[int], None]], Awaitable[None]]
    ) -> bool:
        """Store the blob unless it is there already: one fetch per digest across concurrent imports (download
        slots), into a temporary file named after this image (so a re-run resumes it), committed atomically.
        Returns True if it was fetched, False if it was already stored."""
        if await self.adopt(digest):
            return False
        async with self.deps.store.download_slot(digest):
            if await self.adopt(digest):
                return False
            temp = self.deps.store.temp_path(f"{self.image_id}-{digest.split(':', 1)[1]}")
            self._temps.add(temp)

            def moved(done: int) -> None:
                self.progress.per_blob[digest] = done

            await fetch(temp, moved)
            # From here the blob may land in the store: note it first, and let the commit finish even if the
            # import is cancelled meanwhile, so that the clean-up of a failed import always sees it.
            self._stored.add(digest)
            await finish_uncancelled(self.ctx.run_sync(self.deps.store.commit, temp, digest))
            self._temps.discard(temp)
            self.progress.per_blob[digest] = size
        return True

    async def put_bytes(self, data: bytes) -> str:
        self._stored.add("sha256:" + hashlib.sha256(data).hexdigest())
        digest: str = await finish_uncancelled(self.ctx.run_sync(self.deps.store.put_bytes, data))
        return digest

    async def put_document(self, raw: bytes, digest: str) -> None:
        """Store a manifest, index or config already verified to have ``digest``."""
        if await self.put_bytes(raw) != digest:  # pragma: no cover - verified when it was read
            raise IntegrityError(f"{digest} changed while saving")

    async def log_kept_index(self, digest: str, others: Sequence[IndexEntry], *, total: int | None = None) -> None:
        """The build log's line for an index kept whole: its other platforms and attestations."""
        platforms = [str(o.platform) for o in others if o.is_image and o.platform is not None]
        extras = sum(1 for o in others if not o.is_image)
        entries = f"{len(others)} other entr{'y' if len(others) == 1 else 'ies'}"
        size = f", {human_bytes(total)} in all" if total is not None else ""
        await self.log(
            f"keeping the index whole ({digest}): {entries} (platforms: {', '.join(platforms) or 'none'}; "
            f"{extras} attestation(s) or artifact(s)){size}"
        )

    # --- outcomes ------------------------------------------------------------------------------------------------

    async def finish(self, stored: records.StoredImage) -> None:
        """The image is saved: pushed to the external registry when that is the store, then ``live``."""
        if self.deps.external is not None:
            stored = await self._push_external(stored)
        await self.ctx.run_sync(
            records.finish_import, self.deps.db, self.image_id, stored, acknowledged=self.acknowledged
        )
        await self.log(
            f"live: {stored.manifest_digest} ({human_bytes(stored.size)}) in {time.monotonic() - self.started:.2f}s"
        )
        await self.flush_log()

    async def _push_external(self, stored: records.StoredImage) -> records.StoredImage:
        external = self.deps.external
        assert external is not None  # noqa: S101 - checked by the caller
        source_id = await self.ctx.run_sync(records.image_source_id, self.deps.db, self.image_id)
        repository = external.repository(self.hub_id, source_id)
        limit = self.deps.settings.max_manifest_bytes
        index = next((c for c in self.claims if c.kind == "index"), None)
        top_digest, top_type = (index.digest, index.media_type) if index else (stored.manifest_digest, "")
        manifest = await self.ctx.run_sync(self.deps.store.read_bytes, top_digest, limit)
        children: list[tuple[str, bytes, str]] = []
        if index is not None:  # kept whole: every manifest it lists goes first, by digest
            for claim in self.claims:
                if claim.kind == "manifest":
                    raw = await self.ctx.run_sync(self.deps.store.read_bytes, claim.digest, limit)
                    children.append((claim.digest, raw, claim.media_type))
        blobs = [PushBlob(c.digest, c.size) for c in self.claims if c.kind not in ("manifest", "index")]
        await self.log(f"storage: pushing {len(blobs)} blob(s) to {external.endpoint.host}/{repository}")
        pending: list[str] = []

        def candidates(digest: str) -> list[str]:
            return records.mount_candidates(self.deps.db, digest)

        await external.push(
            repository,
            manifest=manifest,
            manifest_media_type=top_type or stored.manifest_media_type,
            tag=self.image_id,
            children=children,
            blobs=blobs,
            local=self.deps.store,
            mount_candidates=candidates,
            log_line=pending.append,
        )
        for line in pending:
            await self.log(line)
        return dataclasses.replace(
            stored, provider=external.provider, file_name=external.location(repository, stored.manifest_digest)
        )

    async def fail(self, exc: BaseException) -> None:
        """Record a failure (or a cancellation by the user) and clean up. A cancellation because this process is
        stopping records nothing and keeps the temporary files: the job runs again and resumes."""
        if isinstance(exc, asyncio.CancelledError) and self.ctx.cancel_reason is None:
            with contextlib.suppress(Exception):
                await self.flush_log()
            return
        if isinstance(exc, asyncio.CancelledError | CancelledError):
            message = "cancelled: the image was deleted"
        elif isinstance(exc, ImgsrcError):
            message = exc.detail
        else:
            message = "internal error while importing (see the server log)"
        await asyncio.shield(self._record_failure(message))

    async def _record_failure(self, message: str) -> None:
        try:
            await self.log(f"error: {message}")
            await self.flush_log()
            await self.ctx.run_sync(records.fail_import, self.deps.db, self.image_id, message)
            await self.ctx.run_sync(self._clean_up)
        except ImgsrcError:
            log.exception("image %s: could not record the failure of its import", self.image_id)

    def _clean_up(self) -> None:
        for temp in self._temps:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        if self._stored:
            mine = set(self._stored)

            def referenced(digests: Collection[str]) -> set[str]:
                others = {d for d in digests if d not in mine}
                return others | records.referenced_digests(self.deps.db, [d for d in digests if d in mine])

            self.deps.store.gc(referenced, grace_seconds=0, temp_max_age_seconds=float("inf"))

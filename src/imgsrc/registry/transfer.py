"""Blob transfers: resumable, verified downloads and streaming uploads.

A download streams into the caller's temporary file while its sha256 is computed. Bytes already in the file
(a crash or an earlier attempt) are hashed first and the transfer continues with ``Range``; after a dropped
connection it resumes the same way (``206``; a ``200`` means the server ignored the range: start over). Chunks
are handed to a worker thread that writes and hashes while the next chunk arrives, and at most two chunks are
held at once, so memory stays flat whatever the layer size. At the end the size and digest must match the
descriptor, else :class:`~imgsrc.errors.IntegrityError` and the file is removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import os
import re
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import BinaryIO

import httpx

from imgsrc.aio import finish_uncancelled
from imgsrc.errors import IntegrityError, RegistryError
from imgsrc.registry.auth import repository_scope
from imgsrc.registry.manifests import Descriptor
from imgsrc.registry.retry import TRANSIENT_STATUSES, is_transient_error, parse_retry_after
from imgsrc.registry.session import RegistrySession, read_bounded

__all__ = ["CHUNK_BYTES", "download_blob", "upload_blob"]

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
# Attempts that made progress do not use up the retry budget, but a server that sends a few bytes and drops
# forever must still end: this many attempts in all, per retry allowed.
_ATTEMPTS_PER_RETRY = 20


class _Sink:
    """The destination file and its running hash. Methods run in a worker thread."""

    def __init__(self, path: Path) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self.file: BinaryIO = os.fdopen(fd, "r+b")
        self.hash = hashlib.sha256()
        self.size = 0

    def absorb_existing(self, limit: int) -> None:
        """Hash what the file already holds (at most ``limit`` bytes; beyond that it cannot be ours)."""
        self.file.seek(0)
        while chunk := self.file.read(CHUNK_BYTES):
            self.hash.update(chunk)
            self.size += len(chunk)
            if self.size > limit:
                self.reset()
                return
        self.file.seek(self.size)

    def write(self, chunks: list[bytes]) -> None:
        """Write and hash received chunks as they are (joining them first would copy every byte once more)."""
        for chunk in chunks:
            self.file.write(chunk)
            self.hash.update(chunk)
            self.size += len(chunk)

    def reset(self) -> None:
        self.file.seek(0)
        self.file.truncate()
        self.hash = hashlib.sha256()
        self.size = 0

    def finish(self) -> str:
        self.file.flush()
        return "sha256:" + self.hash.hexdigest()


class _Restart(Exception):
    """The server answered a range other than ours: ask again from zero."""


async def download_blob(
    session: RegistrySession,
    repository: str,
    descriptor: Descriptor,
    dest: Path,
    *,
    executor: Executor | None,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Download ``descriptor`` from ``repository`` into ``dest``; see the module docstring.

    ``progress`` is called with the number of bytes of this blob held so far (it can go back to 0 when a
    server ignores ``Range``). A failure other than a mismatch leaves ``dest`` in place for a later resume.
    """
    what = f"blob {descriptor.digest} of {session.host}/{repository}"
    if not descriptor.digest.startswith("sha256:"):
        raise RegistryError(f"{what}: only sha256 blobs can be verified")
    loop = asyncio.get_running_loop()
    sink = await loop.run_in_executor(executor, _Sink, dest)
    try:
        try:
            await loop.run_in_executor(executor, sink.absorb_existing, descriptor.size)
            if progress and sink.size:
                progress(sink.size)
            await _Download(
                session, repository, descriptor, sink=sink, what=what, executor=executor, progress=progress
            ).run()
            digest = await loop.run_in_executor(executor, sink.finish)
        finally:
            # Closed here, not in the executor: a cancelled download (a sibling layer failed) must not leave the
            # file open because the executor was shut down before it got to it.
            sink.file.close()
        _verify(sink.size, digest, descriptor, what)
    except IntegrityError:
        # Content that is not the blob is never kept, so no later resume builds on it.
        await loop.run_in_executor(executor, _remove, dest)
        raise


def _verify(size: int, digest: str, descriptor: Descriptor, what: str) -> None:
    if size != descriptor.size:
        raise IntegrityError(f"{what}: got {size} bytes, the manifest says {descriptor.size}")
    if digest != descriptor.digest:
        raise IntegrityError(f"{what}: content has digest {digest}")


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


class _Download:
    """The attempts of one download: request (with ``Range`` past what the sink holds), receive, resume."""

    def __init__(
        self,
        session: RegistrySession,
        repository: str,
        descriptor: Descriptor,
        *,
        sink: _Sink,
        what: str,
        executor: Executor | None,
        progress: Callable[[int], None] | None,
    ) -> None:
        self.session = session
        self.descriptor = descriptor
        self.sink = sink
        self.what = what
        self.executor = executor
        self.progress = progress
        self.url = f"{session.base_url}/v2/{repository}/blobs/{descriptor.digest}"
        self.scopes = (repository_scope(repository, ["pull"]),)
        self.failures = 0
        self.attempts = 0

    async def _reset(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self.executor, self.sink.reset)
        if self.progress:
            self.progress(0)

    async def run(self) -> None:
        while self.sink.size < self.descriptor.size:
            self.attempts += 1
            before = self.sink.size
            try:
                await self._attempt()
            except _Restart:
                await self._reset()
                self.failures += 1
                self.session.check_retry_budget(self.what, 206, self.failures, None)
            except httpx.HTTPError as exc:
                await self._after_transport_error(exc, progressed=self.sink.size > before)

    async def _attempt(self) -> None:
        headers = {"Accept-Encoding": "identity"}
        if self.sink.size:
            headers["Range"] = f"bytes={self.sink.size}-"
        session = self.session
        async with session.stream(
            "GET", self.url, scopes=self.scopes, headers=headers, follow_redirects=True
        ) as response:
            status = response.status_code
            if status in TRANSIENT_STATUSES:
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                self.failures += 1
                session.check_retry_budget(self.what, status, self.failures, retry_after)
                await session.backoff(self.what, self.failures, retry_after, str(status))
                return
            if status == 416 and self.sink.size:  # our range is past the end: the partial file is not this blob
                raise _Restart
            if status not in (200, 206):
                body = await read_bounded(response, 64 * 1024, self.what)
                raise session.error_for(response, body, self.what)
            if status == 200 and self.sink.size:  # the server ignored our range: take this full answer
                await self._reset()
            _check_framing(response, self.descriptor, self.sink.size, self.what)
            await _receive(response, self.sink, self.descriptor.size, self.executor, self.progress)
        if self.sink.size < self.descriptor.size:  # a complete answer that is short: the blob is shorter
            raise IntegrityError(f"{self.what}: got {self.sink.size} bytes, the manifest says {self.descriptor.size}")

    async def _after_transport_error(self, exc: httpx.HTTPError, *, progressed: bool) -> None:
        if not is_transient_error(exc):
            raise RegistryError(f"{self.what}: download failed ({exc.__class__.__name__})") from exc
        retries = self.session.policy.retries
        self.failures = 0 if progressed else self.failures + 1
        if self.failures > retries or self.attempts > _ATTEMPTS_PER_RETRY * (retries + 1):
            raise RegistryError(
                f"{self.what}: {exc.__class__.__name__} talking to {self.session.host}, {self.attempts} attempts"
            ) from exc
        logger.info("%s: resuming at byte %d after %s", self.what, self.sink.size, exc.__class__.__name__)
        await self.session.backoff(self.what, max(self.failures, 1), None, exc.__class__.__name__)


def _check_framing(response: httpx.Response, descriptor: Descriptor, offset: int, what: str) -> None:
    """Refuse at once an answer whose declared size contradicts the manifest; restart on a foreign range."""
    if response.status_code == 206:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", ""))
        if match is None or int(match.group(1)) != offset:
            raise _Restart
        total = match.group(3)
        if total != "*" and int(total) != descriptor.size:
            raise IntegrityError(f"{what}: the registry says {total} bytes, the manifest says {descriptor.size}")
        return
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) != descriptor.size:
        raise IntegrityError(f"{what}: the registry declares {declared} bytes, the manifest says {descriptor.size}")


async def _receive(
    response: httpx.Response,
    sink: _Sink,
    expected: int,
    executor: Executor | None,
    progress: Callable[[int], None] | None,
) -> None:
    """Stream the body into ``sink``: one chunk being written (in the executor) while the next is read.

    On a dropped connection everything received so far is written before the error propagates.
    """
    writer = _Writer(sink, executor, progress)
    try:
        async for chunk in response.aiter_raw():
            if writer.received + len(chunk) > expected:
                raise IntegrityError(f"the registry sent more than the {expected} bytes the manifest declares")
            await writer.add(chunk)
    except httpx.TransportError:
        # What arrived before the connection dropped is good data: keep it, so the resume starts after it.
        await writer.flush()
        raise
    finally:
        await writer.settle()
    await writer.flush()


class _Writer:
    """Batches received bytes into ``CHUNK_BYTES`` writes, at most one in flight in the executor."""

    def __init__(self, sink: _Sink, executor: Executor | None, progress: Callable[[int], None] | None) -> None:
        self.sink = sink
        self.executor = executor
        self.progress = progress
        self.received = sink.size
        # Received chunks are kept as they came and handed over in batches: the event loop's thread, which
        # reads every parallel download, never copies a byte.
        self.chunks: list[bytes] = []
        self.batched = 0
        self.pending: asyncio.Future[None] | None = None

    async def add(self, chunk: bytes) -> None:
        self.received += len(chunk)
        self.chunks.append(chunk)
        self.batched += len(chunk)
        if self.batched >= CHUNK_BYTES:
            await self._submit()

    async def _submit(self) -> None:
        if self.pending is not None:
            await self.pending
        batch, self.chunks, self.batched = self.chunks, [], 0
        self.pending = asyncio.get_running_loop().run_in_executor(self.executor, self.sink.write, batch)
        if self.progress:
            self.progress(self.received)

    async def flush(self) -> None:
        """Write what is buffered and wait for it."""
        if self.chunks:
            await self._submit()
        await self.settle()

    async def settle(self) -> None:
        """Wait for the write in flight, even when cancelled, so the file is not closed under it."""
        if self.pending is not None:
            pending, self.pending = self.pending, None
            await finish_uncancelled(pending)


async def upload_blob(
    session: RegistrySession,
    repository: str,
    digest: str,
    path: Path,
    *,
    chunk_size: int | None = None,
) -> None:
    """Upload the file at ``path`` as blob ``digest``: one streamed PUT (monolithic), or PATCH chunks of
    ``chunk_size`` bytes then a closing PUT. The whole upload is retried from a new session on transient
    failures; the registry verifies the digest."""
    what = f"upload of {digest} to {session.host}/{repository}"
    scopes = (repository_scope(repository, ["pull", "push"]),)
    size = (await asyncio.to_thread(path.stat)).st_size

    async def once() -> tuple[httpx.Response, bytes]:
        started = await session.request(
            "POST", f"{session.base_url}/v2/{repository}/blobs/uploads/", scopes=scopes, what=what, ok=(202,)
        )
        assert started is not None  # noqa: S101 - missing_ok is False
        location = _location(session, started[0], what)
        if chunk_size is None or size <= chunk_size:
            target = location.copy_merge_params({"digest": digest})
            headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
            async with session.stream(
                "PUT", str(target), scopes=scopes, headers=headers, content=lambda: _file_chunks(path, 0, size)
            ) as response:
                return response, await read_bounded(response, 64 * 1024, what)
        offset = 0
        while offset < size:
            length = min(chunk_size, size - offset)
            headers = {
                "Content-Type": "application/octet-stream",
                "Content-Length": str(length),
                "Content-Range": f"{offset}-{offset + length - 1}",
            }
            async with session.stream(
                "PATCH",
                str(location),
                scopes=scopes,
                headers=headers,
                content=functools.partial(_file_chunks, path, offset, length),
            ) as response:
                body = await read_bounded(response, 64 * 1024, what)
                if response.status_code != 202:
                    return response, body
                location = _location(session, response, what)
            offset += length
        target = location.copy_merge_params({"digest": digest})
        async with session.stream("PUT", str(target), scopes=scopes, headers={"Content-Length": "0"}) as response:
            return response, await read_bounded(response, 64 * 1024, what)

    response, body = await session.retrying(what, once)
    if response.status_code != 201:
        raise session.error_for(response, body, what)
    answered = response.headers.get("docker-content-digest")
    if answered is not None and answered != digest:
        raise IntegrityError(f"{what}: the registry stored digest {answered}")


def _location(session: RegistrySession, response: httpx.Response, what: str) -> httpx.URL:
    location = response.headers.get("location")
    if not location:
        raise RegistryError(f"{what}: the registry gave no upload location")
    return httpx.URL(session.base_url).join(location)


async def _file_chunks(path: Path, offset: int, length: int) -> AsyncIterator[bytes]:
    """Read ``length`` bytes of ``path`` from ``offset`` in chunks, in a worker thread."""
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        await asyncio.to_thread(handle.seek, offset)
        remaining = length
        while remaining:
            data = await asyncio.to_thread(handle.read, min(CHUNK_BYTES, remaining))
            if not data:
                raise RegistryError(f"{path.name} shrank during upload")
            remaining -= len(data)
            yield data
    finally:
        await asyncio.to_thread(handle.close)

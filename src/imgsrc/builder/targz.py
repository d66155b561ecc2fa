"""Tarball build contexts: download a ``.tar.gz`` (or plain ``.tar``) over http(s) and unpack it safely.

The download streams to a temporary file under the work directory and stops as soon as it passes
``settings.context_max_bytes`` (checked against ``Content-Length`` first, then against the bytes received),
so memory stays flat and a hostile server cannot fill the disk. Unpacking is the project's hardened extractor
(:func:`imgsrc.archives.extract_tar`: no absolute paths, no ``..``, no links escaping the root, no device
files, size and entry-count limits), run in a worker thread. The archive's root is the context root, as with
``docker build <url>``; an archive whose entries all sit in one top-level directory (GitHub's
``<repo>-<sha>/``) needs ``context_dir`` to point into it.

Transient failures (connection errors, HTTP 429/502/503/504) are retried ``settings.retries`` times with a
capped backoff; other HTTP statuses fail at once. Credentials embedded in the URL (``https://user:pw@host``)
are used for Basic authentication and never appear in a message.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import httpx

from imgsrc.builder.context import TarballSource
from imgsrc.builder.redact import Redactor, redact_url
from imgsrc.errors import BuildError, InvalidArgumentError
from imgsrc.registry.session import tls_context
from imgsrc.settings import Settings

__all__ = ["download_to_file", "fetch_tarball"]

_TRANSIENT_STATUS = frozenset({429, 502, 503, 504})
_BACKOFF_CAP = 10.0


class _Transient(Exception):
    """A failure worth another attempt (internal to the retry loop)."""


def _check_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise InvalidArgumentError(f"the build context URL {redact_url(url)!r} is not valid") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidArgumentError("a build context URL must be an http(s) URL")
    return parsed


async def _download_once(client: httpx.AsyncClient, url: httpx.URL, dest: Path, max_bytes: int, shown: str) -> int:
    async with client.stream("GET", url) as response:
        if response.status_code in _TRANSIENT_STATUS:
            raise _Transient(f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise BuildError(f"downloading the build context {shown} failed: HTTP {response.status_code}")
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            raise BuildError(f"the build context {shown} is larger than the limit of {max_bytes} bytes")
        received = 0
        with dest.open("wb") as out:
            async for chunk in response.aiter_raw():
                received += len(chunk)
                if received > max_bytes:
                    raise BuildError(f"the build context {shown} is larger than the limit of {max_bytes} bytes")
                out.write(chunk)
        return received


async def download_to_file(
    url: str, dest: Path, *, max_bytes: int, settings: Settings, log: Callable[[str], None]
) -> int:
    """Download ``url`` to ``dest`` (at most ``max_bytes``), retrying transient failures; return the size.
    The body is stored as sent (no ``Content-Encoding`` decoding): a ``.tar.gz`` stays gzip for the extractor.
    """
    parsed = _check_url(url)
    shown = redact_url(url)
    redactor = Redactor([parsed.password])
    timeout = httpx.Timeout(settings.http_timeout_seconds)
    attempt = 0
    tls = tls_context()
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=True, trust_env=True, verify=tls) as client:
        while True:
            try:
                return await _download_once(client, parsed, dest, max_bytes, shown)
            except (_Transient, httpx.TransportError) as exc:
                reason = redactor(str(exc) or type(exc).__name__)
                if attempt >= settings.retries:
                    raise BuildError(f"downloading the build context {shown} failed: {reason}") from exc
                attempt += 1
                delay = min(2.0**attempt, _BACKOFF_CAP)
                log(f"download failed ({reason}); retrying in {delay:g} s ({attempt}/{settings.retries})")
                await asyncio.sleep(delay)  # backoff before a retry, not synchronisation
            except httpx.HTTPError as exc:
                reason = redactor(str(exc) or type(exc).__name__)
                raise BuildError(f"downloading the build context {shown} failed: {reason}") from exc


async def fetch_tarball(source: TarballSource, workdir: Path, settings: Settings, log: Callable[[str], None]) -> Path:
    """Download and unpack ``source`` into ``workdir/context``; return that directory.

    See :func:`imgsrc.builder.context.fetch_context` for the contract. Raises :class:`ArchiveError` for a
    malformed or hostile archive or one over the entry/size limits.
    """
    from imgsrc.archives import ExtractLimits, extract_tar

    archive = workdir / "context.tar.download"
    dest = workdir / "context"
    shown = redact_url(source.url)
    log(f"downloading the build context {shown}")
    try:
        size = await download_to_file(
            source.url, archive, max_bytes=settings.context_max_bytes, settings=settings, log=log
        )
        log(f"downloaded {size} bytes; unpacking")
        limits = ExtractLimits(max_bytes=settings.context_max_bytes, max_entries=settings.context_max_entries)
        stats = await asyncio.to_thread(extract_tar, archive, dest, limits)
    finally:
        with contextlib.suppress(FileNotFoundError):
            archive.unlink()
    log(f"unpacked the build context: {stats.entries} entries, {stats.bytes} bytes")
    return dest

"""The body of an upload: ``multipart/form-data`` parsed as it arrives, its ``file.tar`` part fed to the archive
reader in one pass.

python-multipart's streaming parser splits the body; the data of the ``file.tar`` part goes through a bounded
pipe to :func:`~imgsrc.archives.read_image_archive`, which runs in a thread and stages each blob under its digest.
So the request is read no faster than the archive is checked, memory stays flat, and the archive is never
written whole to disk. Other form fields are ignored (within a small bound).

Every failure is one of the project's errors: a malformed or incomplete body, a client that goes away, the
reader's :class:`~imgsrc.errors.ArchiveError`/:class:`~imgsrc.errors.IntegrityError`, and the size and entry
limits as :class:`~imgsrc.errors.MaxExceededError` (``422.max-exceeded``). When the refusal comes before the body
is over, up to ``_DRAIN_MAX`` more bytes are read and dropped, so that an ordinary client gets to read the answer.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
from collections.abc import AsyncIterator
from pathlib import Path

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from imgsrc.aio import finish_uncancelled
from imgsrc.archives import LocalImage, UploadLimits, read_image_archive
from imgsrc.errors import (
    ArchiveError,
    ArchiveLimitError,
    ImgsrcError,
    InvalidArgumentError,
    InvalidContentTypeError,
    MaxExceededError,
    MissingArgumentError,
)

__all__ = ["FILE_FIELD", "multipart_boundary", "receive_archive"]

FILE_FIELD = "file.tar"
_OTHER_PARTS_MAX = 64 * 1024  # form fields besides the archive are ignored, up to this many bytes
_PIPE_BYTES = 4 * 1024 * 1024  # request bytes buffered ahead of the archive reader
_DRAIN_MAX = 16 * 1024 * 1024  # after a refusal, body bytes read (and dropped) so the client sees the answer


class _ReaderGone(Exception):
    """The archive reader stopped (it failed, or finished early); its own outcome says why."""


class _Aborted(Exception):
    """Raised in the reader thread when the request side gave up (its error is reported, not this)."""


class _Pipe:
    """Request bytes (written on the event loop) to the archive reader (reading in a thread), at most
    ``_PIPE_BYTES`` buffered."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._eof = self._aborted = self._reader_gone = False
        self._loop = asyncio.get_running_loop()
        self._space = asyncio.Event()
        self._space.set()

    async def write(self, data: bytes) -> None:
        """Queue ``data`` for the reader, waiting while the buffer is full; :class:`_ReaderGone` if it stopped."""
        while True:
            with self._cond:
                if self._reader_gone:
                    raise _ReaderGone
                if self._buffered < _PIPE_BYTES:
                    self._chunks.append(data)
                    self._buffered += len(data)
                    self._cond.notify()
                    return
                self._space.clear()
            await self._space.wait()

    def close(self) -> None:
        """The end of the archive: the reader sees EOF once it has read everything queued."""
        with self._cond:
            self._eof = True
            self._cond.notify()

    def abort(self) -> None:
        """The request side gave up: the reader's next read raises."""
        with self._cond:
            self._aborted = True
            self._cond.notify()

    def reader_gone(self) -> None:
        """Called by the reader thread when it stops (a waiting writer wakes up and learns it)."""
        with self._cond:
            self._reader_gone = True
        self._loop.call_soon_threadsafe(self._space.set)

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes (the reader's side; blocking), ``b""`` at the end."""
        with self._cond:
            while not self._chunks and not self._eof and not self._aborted:
                self._cond.wait()
            if self._aborted:
                raise _Aborted
            if not self._chunks:
                return b""
            data = self._chunks.popleft()
            if 0 <= size < len(data):
                data, rest = data[:size], data[size:]
                self._chunks.appendleft(rest)
            was_full = self._buffered >= _PIPE_BYTES
            self._buffered -= len(data)
            room = self._buffered < _PIPE_BYTES
        if was_full and room:
            self._loop.call_soon_threadsafe(self._space.set)
        return data


class _FormReader:
    """Incremental ``multipart/form-data``: hands out the data of the ``file.tar`` part, bounds the others."""

    def __init__(self, boundary: bytes) -> None:
        self.started = self.ended = False
        self._in_file = False
        self._pieces: list[bytes] = []
        self._headers: dict[bytes, bytes] = {}
        self._field = self._value = b""
        self._other = 0
        self._error: ImgsrcError | None = None
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_end": self._end,
            },
        )

    def _part_begin(self) -> None:
        self._headers, self._in_file = {}, False

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.strip().lower()] = self._value.strip()
        self._field = self._value = b""

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        if params.get(b"name") != FILE_FIELD.encode():
            return
        if self.started:
            self._error = InvalidArgumentError(f"the upload holds more than one `{FILE_FIELD}` part")
        self.started = self._in_file = True

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self._pieces.append(bytes(data[start:end]))
            return
        self._other += end - start
        if self._other > _OTHER_PARTS_MAX:
            self._error = MaxExceededError(f"fields besides `{FILE_FIELD}` are limited to {_OTHER_PARTS_MAX} bytes")

    def _part_end(self) -> None:
        self._in_file = False

    def _end(self) -> None:
        self.ended = True

    def feed(self, chunk: bytes) -> list[bytes]:
        """Parse ``chunk``; return the pieces of the archive it carried."""
        try:
            self._parser.write(chunk)
        except FormParserError as exc:
            raise InvalidArgumentError(f"the multipart body is malformed: {exc}") from None
        if self._error is not None:
            raise self._error
        pieces, self._pieces = self._pieces, []
        return pieces

    def finish(self) -> None:
        """The body is over: it must have held the archive and ended with its closing boundary."""
        if not self.started:
            raise MissingArgumentError(f"the upload has no `{FILE_FIELD}` part", source=f"/{FILE_FIELD}")
        if not self.ended:
            raise ArchiveError("the upload is truncated: the multipart body ends before its closing boundary")


def multipart_boundary(content_type: str) -> bytes:
    """The boundary of a ``multipart/form-data`` content type; :class:`InvalidContentTypeError` otherwise."""
    media, params = parse_options_header(content_type)
    boundary = params.get(b"boundary", b"")
    if media != b"multipart/form-data" or not boundary:
        raise InvalidContentTypeError(f"an upload is multipart/form-data with the archive in the `{FILE_FIELD}` part")
    return boundary


def _limit_error(exc: ArchiveError) -> ImgsrcError:
    """The archive reader's size and entry limits (``ArchiveLimitError``) name the part at fault."""
    if isinstance(exc, ArchiveLimitError):
        return MaxExceededError(exc.detail, source=f"/{FILE_FIELD}")
    return exc


async def _drain(body: AsyncIterator[bytes]) -> None:
    dropped = 0
    with contextlib.suppress(ClientDisconnect):
        async for chunk in body:
            dropped += len(chunk)
            if dropped > _DRAIN_MAX:
                return


async def receive_archive(
    request: Request,
    boundary: bytes,
    staging: Path,
    limits: UploadLimits,
    *,
    platform: str,
    keep_index: bool = False,
) -> tuple[LocalImage, int]:
    """Stream the ``file.tar`` part of ``request`` into :func:`~imgsrc.archives.read_image_archive` (staging
    under ``staging``, absent or empty); return the image and the size of the archive as received."""
    try:
        return await _stream(request, _FormReader(boundary), staging, limits, platform=platform, keep_index=keep_index)
    except ArchiveError as exc:
        raise _limit_error(exc) from None


async def _stream(
    request: Request, form: _FormReader, staging: Path, limits: UploadLimits, *, platform: str, keep_index: bool
) -> tuple[LocalImage, int]:
    pipe = _Pipe()
    reader: asyncio.Task[LocalImage] | None = None

    def consume() -> LocalImage:
        try:
            return read_image_archive(pipe, staging, limits, platform=platform, keep_index=keep_index)
        finally:
            pipe.reader_gone()

    body = request.stream()
    received = 0
    try:
        try:
            async for chunk in body:
                for piece in form.feed(chunk):
                    received += len(piece)
                    if received > limits.max_bytes:
                        raise MaxExceededError(
                            f"the upload may be at most {limits.max_bytes} bytes", source=f"/{FILE_FIELD}"
                        )
                    if reader is None:
                        reader = asyncio.create_task(asyncio.to_thread(consume))
                    await pipe.write(piece)
            form.finish()
        except ClientDisconnect:
            raise ArchiveError("the upload was interrupted: the client went away before sending everything") from None
        except ImgsrcError:
            await _drain(body)
            raise
        except _ReaderGone:
            assert reader is not None  # noqa: S101 - only a started reader can be gone
            await _drain(body)
            await reader  # raises the reader's error; a reader that ended early was handed data after the archive
            raise ArchiveError("the upload holds data after the end of the archive") from None
        if reader is None:
            reader = asyncio.create_task(asyncio.to_thread(consume))
        pipe.close()
        return await reader, received
    finally:
        if reader is not None and not reader.done():
            pipe.abort()
            with contextlib.suppress(Exception):
                await finish_uncancelled(reader)

"""A ``multipart/form-data`` body with one file field, streamed from the file chunk by chunk.

An image archive can be many gigabytes: the body is produced as it is sent (a small head, the file's bytes one
chunk at a time, a small tail), so memory stays flat whatever the file's size. httpx's own ``files=`` also reads in
chunks, but it cannot report progress, reads blocking inside the event loop on the asynchronous client, and
rewinds file objects; this module does none of that.

When the file's size is known (a path, a regular file, a seekable stream) the body's ``Content-Length`` is declared
and exactly that many bytes are sent: a file that shrinks while being read fails the upload
(:class:`~imgsrc.errors.InvalidInputError`) instead of sending a short body, and bytes appended meanwhile are not
sent. Otherwise the body goes out with chunked transfer encoding.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import os
import secrets
import stat
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from imgsrc.errors import InvalidArgumentError, InvalidInputError

__all__ = ["CHUNK_SIZE", "FIELD_NAME", "MultipartFile", "UploadFile", "UploadProgress"]

FIELD_NAME = "file.tar"
CHUNK_SIZE = 1024 * 1024
UploadFile = str | os.PathLike[str] | BinaryIO


@dataclass(frozen=True)
class UploadProgress:
    """How much of an upload has been handed to the connection: ``bytes_sent`` of ``bytes_total`` (``None`` when
    the file's size could not be known in advance)."""

    bytes_sent: int
    bytes_total: int | None

    @property
    def fraction(self) -> float | None:
        """Between 0 and 1, or ``None`` without a known total."""
        if not self.bytes_total:
            return None
        return min(1.0, self.bytes_sent / self.bytes_total)


OnUpload = Callable[[UploadProgress], object]
OnUploadAsync = Callable[[UploadProgress], object | Awaitable[object]]


def _filename(name: str) -> str:
    """The ``filename`` parameter: the base name in printable ASCII, without quotes or backslashes (which would
    end or escape the quoted parameter), so that no file name can inject a header; ``image.tar`` when the file has
    no real name."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if base.startswith("<") and base.endswith(">"):
        return "image.tar"  # a pseudo name such as Python's "<stdin>"
    cleaned = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in base)
    return cleaned or "image.tar"


def _remaining_size(file: BinaryIO) -> int | None:
    """Bytes from the current position to the end, if the file can tell (regular file or seekable stream)."""
    try:
        position = file.tell()
    except (OSError, AttributeError, ValueError):
        return None
    try:
        info = os.fstat(file.fileno())
    except (OSError, AttributeError, ValueError, io.UnsupportedOperation):
        info = None
    if info is not None and stat.S_ISREG(info.st_mode):
        return max(0, info.st_size - position)
    if info is not None:
        return None  # a pipe, socket or device: its size is not known
    try:
        if not file.seekable():
            return None
        end = file.seek(0, os.SEEK_END)
        file.seek(position)
    except (OSError, AttributeError, ValueError):
        return None
    return max(0, end - position)


class MultipartFile:
    """The body of an upload: field ``field`` holding ``file`` (a path, or a binary file object read from its
    current position and left open).

    :meth:`chunks` (or :meth:`achunks`, asynchronously) produces the body, calling ``on_progress`` after every
    chunk of the file; each pass opens a path anew, so a body made from a path can be sent again. ``headers`` are
    the ``Content-Type`` (with the boundary) and, when the size is known, the ``Content-Length``."""

    def __init__(
        self,
        file: UploadFile,
        *,
        field: str = FIELD_NAME,
        chunk_size: int = CHUNK_SIZE,
        filename: str | None = None,
        on_progress: OnUploadAsync | None = None,
    ) -> None:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        self._source: Path | BinaryIO
        if isinstance(file, str | os.PathLike):
            path = self._source = Path(file)
            try:
                info = path.stat()
            except FileNotFoundError:
                raise InvalidArgumentError(f"no file at {path}") from None
            except OSError as exc:
                raise InvalidArgumentError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
            if stat.S_ISDIR(info.st_mode):
                raise InvalidArgumentError(f"{path} is a directory, not an archive")
            self.file_size: int | None = info.st_size if stat.S_ISREG(info.st_mode) else None
            name = filename or path.name
        else:
            if not hasattr(file, "read"):
                raise TypeError("upload a path or a binary file object")
            self._source = file
            self.file_size = _remaining_size(file)
            name = filename or str(getattr(file, "name", "") or "image.tar")
        self.chunk_size = chunk_size
        self.boundary = secrets.token_hex(16)
        self._head = (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="{field}"; filename="{_filename(name)}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode("ascii")
        self._tail = f"\r\n--{self.boundary}--\r\n".encode("ascii")
        self._on_progress = on_progress

    @property
    def content_length(self) -> int | None:
        """The body's length in bytes, ``None`` when the file's size is unknown."""
        if self.file_size is None:
            return None
        return len(self._head) + self.file_size + len(self._tail)

    @property
    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": f"multipart/form-data; boundary={self.boundary}"}
        if self.content_length is not None:
            headers["Content-Length"] = str(self.content_length)
        return headers

    def _open(self) -> tuple[BinaryIO, bool]:
        if not isinstance(self._source, Path):
            return self._source, False
        try:
            return self._source.open("rb"), True
        except OSError as exc:
            raise InvalidArgumentError(f"cannot read {self._source}: {exc.strerror or type(exc).__name__}") from None

    def _want(self, sent: int) -> int:
        if self.file_size is None:
            return self.chunk_size
        return min(self.chunk_size, self.file_size - sent)

    def _short(self, sent: int) -> InvalidInputError:
        return InvalidInputError(f"the file ended after {sent} of {self.file_size} bytes: it changed while uploading")

    def chunks(self) -> Iterator[bytes]:
        """The body, reading the file as it goes."""
        file, owned = self._open()
        try:
            yield self._head
            sent = 0
            self._report_sync(sent)
            while (want := self._want(sent)) > 0:
                chunk = file.read(want)
                if not chunk:
                    if self.file_size is not None:
                        raise self._short(sent)
                    break
                sent += len(chunk)
                yield chunk
                self._report_sync(sent)
            yield self._tail
        finally:
            if owned:
                file.close()

    async def achunks(self) -> AsyncIterator[bytes]:
        """The body, reading the file in a worker thread as it goes."""
        file, owned = await asyncio.to_thread(self._open)
        try:
            yield self._head
            sent = 0
            await self._report_async(sent)
            while (want := self._want(sent)) > 0:
                chunk = await asyncio.to_thread(file.read, want)
                if not chunk:
                    if self.file_size is not None:
                        raise self._short(sent)
                    break
                sent += len(chunk)
                yield chunk
                await self._report_async(sent)
            yield self._tail
        finally:
            if owned:
                await asyncio.to_thread(file.close)

    def _report_sync(self, sent: int) -> None:
        if self._on_progress is not None:
            self._on_progress(UploadProgress(sent, self.file_size))

    async def _report_async(self, sent: int) -> None:
        if self._on_progress is not None:
            result = self._on_progress(UploadProgress(sent, self.file_size))
            if inspect.isawaitable(result):
                await result

"""Compression of archives and layers, told apart by their magic bytes, never by a file name.

An upload or build context is a tar, plain or gzip-compressed; :func:`open_archive_stream` looks at the first
bytes of a (possibly non-seekable) stream and hands back a reader of the tar inside. Other compressions are
recognised only to refuse them with a clear message instead of a confusing "bad tar header".
"""

from __future__ import annotations

import enum
import gzip
import zlib
from pathlib import Path
from typing import Final, Protocol

from imgsrc.errors import ArchiveError

__all__ = ["Compression", "Readable", "TarStream", "open_archive_stream", "sniff", "sniff_file"]

_MAGIC_LEN: Final = 6


class Readable(Protocol):
    """The one thing asked of an input stream: ``read(n)`` returning up to ``n`` bytes, ``b""`` at the end."""

    def read(self, size: int = -1, /) -> bytes: ...


class Compression(enum.Enum):
    NONE = "none"
    GZIP = "gzip"
    ZSTD = "zstd"
    BZIP2 = "bzip2"
    XZ = "xz"


def sniff(head: bytes) -> Compression:
    """The compression whose magic ``head`` (the first few bytes of a stream) starts with."""
    if head.startswith(b"\x1f\x8b"):
        return Compression.GZIP
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return Compression.ZSTD
    if head.startswith(b"BZh"):
        return Compression.BZIP2
    if head.startswith(b"\xfd7zXZ\x00"):
        return Compression.XZ
    return Compression.NONE


def sniff_file(path: Path) -> Compression:
    """The compression of the file at ``path``, from its first bytes."""
    with path.open("rb") as handle:
        return sniff(handle.read(_MAGIC_LEN))


class _Prefixed:
    """A stream with bytes already taken from its front put back (for sniffing a non-seekable stream)."""

    def __init__(self, head: bytes, stream: Readable) -> None:
        self._head = head
        self._stream = stream

    def read(self, size: int = -1, /) -> bytes:
        if self._head:
            if size < 0:
                out, self._head = self._head + self._stream.read(), b""
                return out
            out, self._head = self._head[:size], self._head[size:]
            return out
        return self._stream.read(size)

    def seek(self, offset: int, /) -> int:
        # gzip only seeks to rewind, which never happens here; the input may be a socket.
        raise OSError("archive stream is not seekable")


class TarStream:
    """The tar bytes of an archive, decompressed if it was gzip. Corrupt or truncated gzip data surfaces as
    ArchiveError, so callers see one error type whatever the layer that noticed the damage."""

    def __init__(self, source: _Prefixed, compression: Compression) -> None:
        self.compression = compression
        self._reader: Readable = source
        if compression is Compression.GZIP:
            self._reader = gzip.GzipFile(fileobj=source, mode="rb")

    def read(self, size: int = -1, /) -> bytes:
        try:
            return self._reader.read(size)
        except EOFError as exc:
            raise ArchiveError("archive is truncated (gzip stream ends early)") from exc
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise ArchiveError(f"archive is not valid gzip data: {exc}") from exc


def open_archive_stream(stream: Readable) -> TarStream:
    """Read the first bytes of ``stream`` (once; no seeking) and return a reader of the tar it holds."""
    head = b""
    while len(head) < _MAGIC_LEN:
        more = stream.read(_MAGIC_LEN - len(head))
        if not more:
            break
        head += more
    compression = sniff(head)
    if compression not in (Compression.NONE, Compression.GZIP):
        raise ArchiveError(f"archive is {compression.value}-compressed; only plain or gzip tar is accepted")
    return TarStream(_Prefixed(head, stream), compression)

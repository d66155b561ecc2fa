"""A strict, streaming reader of untrusted tar archives.

Why not :mod:`tarfile`: it reads a pax or GNU long-name header's whole body into memory (a hostile archive can
declare one of many gigabytes), it lets unknown entry types through as regular files, and its extraction filters
changed (and were bypassed) across 3.11 patch releases. This reader reads the stream strictly in order, once,
keeps memory bounded (metadata headers are capped at :data:`MAX_META_BYTES`), and yields only what images and
build contexts consist of: regular files, directories, symlinks and hard links. Device nodes, fifos, sparse
files, multi-volume parts and unknown types are refused with the entry named. Understood formats: v7, ustar,
GNU (long names and links, base-256 numbers) and pax (``path``, ``linkpath``, ``size``, ``mtime``).

Usage: iterate :meth:`TarReader.members`; read a file's data with :meth:`TarReader.read` before asking for the
next member (whatever is left unread is skipped); call :meth:`TarReader.finish` after the last one.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

from imgsrc.archives.compression import Readable
from imgsrc.archives.tree import show
from imgsrc.errors import ArchiveError

__all__ = ["MAX_META_BYTES", "MemberKind", "TarMember", "TarReader"]

BLOCK: Final = 512
MAX_META_BYTES: Final = 1 << 20  # largest pax / GNU long-name header body accepted
MAX_META_CHAIN: Final = 8  # metadata headers allowed in front of one member
MAX_TRAILER_BYTES: Final = 1 << 20  # data accepted after the end-of-archive marker (record padding)
_SKIP_CHUNK: Final = 1 << 20
_MAX_MTIME: Final = float(1 << 36)
_ZERO_BLOCK: Final = bytes(BLOCK)
_POSIX_MAGIC: Final = b"ustar\x0000"
_DIGITS: Final = frozenset(b"0123456789")
_OCTAL: Final = frozenset(b"01234567")

_REFUSED_TYPES: Final = {
    b"3": "character device",
    b"4": "block device",
    b"6": "fifo",
    b"S": "sparse file",
    b"M": "multi-volume continuation",
    b"V": "volume header",
    b"N": "old GNU long name",
}


class MemberKind(enum.Enum):
    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"


@dataclass(frozen=True)
class TarMember:
    """One entry. ``name`` and ``linkname`` are raw (not normalised); ``size`` is non-zero only for files."""

    name: str
    kind: MemberKind
    size: int
    mode: int
    mtime: float
    linkname: str


def _text(field: bytes) -> str:
    # Names are bytes on the wire; undecodable bytes survive as surrogates (os functions accept those).
    return field.split(b"\x00", 1)[0].decode("utf-8", "surrogateescape")


def _number(field: bytes, what: str) -> int:
    """A numeric header field: NUL/space-padded octal, or GNU base-256 when the top bit of byte 0 is set."""
    if field[0] & 0x80:
        if field[0] == 0xFF:
            raise ArchiveError(f"negative {what} in tar header")
        return int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
    digits = field.split(b"\x00", 1)[0].strip(b" ")
    if not digits:
        return 0
    if not set(digits) <= _OCTAL:
        raise ArchiveError(f"malformed {what} in tar header")
    return int(digits, 8)


def _checksum_ok(block: bytes) -> bool:
    stored = _number(block[148:156], "checksum")
    unsigned = sum(block[:148]) + 256 + sum(block[156:])
    if stored == unsigned:
        return True
    # Some historic writers summed signed chars; accept that too, as GNU tar does.
    signed: int = sum(struct.unpack("148b", block[:148])) + 256 + sum(struct.unpack("356b", block[156:]))
    return stored == signed


def _parse_pax(data: bytes) -> dict[str, str]:
    """Records of the form ``"<len> <key>=<value>\\n"``."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data) and data[pos] != 0:
        space = data.find(b" ", pos)
        digits = data[pos:space] if space > pos else b""
        if not digits or not set(digits) <= _DIGITS:
            raise ArchiveError("malformed pax header")
        end = pos + int(digits)
        if end <= space + 1 or end > len(data) or data[end - 1] != 0x0A:
            raise ArchiveError("malformed pax header")
        key, eq, value = data[space + 1 : end - 1].partition(b"=")
        if not eq:
            raise ArchiveError("malformed pax header")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos = end
    return records


def _pax_int(value: str, what: str) -> int:
    if not value.isascii() or not value.isdigit():
        raise ArchiveError(f"malformed pax {what}")
    return int(value)


@dataclass
class _Meta:
    """What metadata headers (pax, GNU long name/link) say about the member that follows them."""

    pax: dict[str, str] = field(default_factory=dict)
    long_name: str | None = None
    long_link: str | None = None
    seen: bool = False


_META_TYPES: Final = frozenset({b"x", b"g", b"L", b"K"})
_KINDS: Final = {
    b"0": MemberKind.FILE,
    b"\x00": MemberKind.FILE,
    b"7": MemberKind.FILE,  # contiguous file: a regular file everywhere that matters
    b"5": MemberKind.DIRECTORY,
    b"2": MemberKind.SYMLINK,
    b"1": MemberKind.HARDLINK,
}


def _mtime(block: bytes, pax: dict[str, str]) -> float:
    try:
        mtime = float(pax["mtime"]) if "mtime" in pax else float(_number(block[136:148], "mtime"))
    except (ValueError, ArchiveError):
        return 0.0
    # Also catches NaN. A bad timestamp harms nothing: use the epoch.
    return mtime if 0.0 <= mtime <= _MAX_MTIME else 0.0


def _member(block: bytes, type_flag: bytes, size: int, meta: _Meta) -> TarMember:
    """The member described by header ``block``, with what preceding metadata headers override."""
    name = _text(block[0:100])
    if block[257:265] == _POSIX_MAGIC and (prefix := _text(block[345:500])):
        name = f"{prefix}/{name}"
    name = meta.pax.get("path", meta.long_name if meta.long_name is not None else name)
    linkname = _text(block[157:257]) if meta.long_link is None else meta.long_link
    linkname = meta.pax.get("linkpath", linkname)
    if "size" in meta.pax:
        size = _pax_int(meta.pax["size"], "size")
    if any(key.startswith("GNU.sparse.") for key in meta.pax):
        raise ArchiveError(f"entry {show(name)}: sparse files are not allowed")
    if type_flag in _REFUSED_TYPES:
        raise ArchiveError(f"entry {show(name)}: {_REFUSED_TYPES[type_flag]} not allowed")
    kind = _KINDS.get(type_flag)
    if kind is None:
        raise ArchiveError(f"entry {show(name)}: unsupported tar entry type {type_flag!r}")
    if type_flag == b"\x00" and name.endswith("/"):
        kind = MemberKind.DIRECTORY  # pre-POSIX archives mark directories by a trailing slash only
    if kind is not MemberKind.FILE and size:
        # Readers disagree on whether such data exists; refusing avoids reading a different archive than the
        # tools that later consume the same bytes.
        raise ArchiveError(f"entry {show(name)}: {kind.value} header declares {size} bytes of data")
    mode = _number(block[100:108], "mode") & 0o7777
    return TarMember(name=name, kind=kind, size=size, mode=mode, mtime=_mtime(block, meta.pax), linkname=linkname)


class TarReader:
    """Reads members from ``stream`` (anything with ``read(n)``), strictly sequentially."""

    def __init__(self, stream: Readable) -> None:
        self._stream = stream
        self._offset = 0
        self._remaining = 0  # unread data bytes of the current member
        self._padding = 0  # padding bytes after them
        self._current = ""
        self._ended = False

    @property
    def offset(self) -> int:
        """Bytes of tar consumed so far."""
        return self._offset

    def _read_exact(self, size: int) -> bytes:
        parts: list[bytes] = []
        got = 0
        while got < size:
            chunk = self._stream.read(size - got)
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        self._offset += got
        return b"".join(parts)

    def _skip(self, size: int) -> None:
        while size:
            chunk = self._stream.read(min(size, _SKIP_CHUNK))
            if not chunk:
                raise ArchiveError(f"archive is truncated (inside entry {show(self._current)})")
            size -= len(chunk)
            self._offset += len(chunk)

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes of the current member's data; ``b""`` once it is all read."""
        if not self._remaining:
            return b""
        chunk = self._stream.read(min(size, self._remaining))
        if not chunk:
            raise ArchiveError(f"archive is truncated (inside entry {show(self._current)})")
        self._remaining -= len(chunk)
        self._offset += len(chunk)
        return chunk

    def _header_block(self) -> bytes | None:
        block = self._read_exact(BLOCK)
        if len(block) < BLOCK:
            raise ArchiveError("archive is truncated (no end-of-archive marker)")
        if block == _ZERO_BLOCK:
            return None
        if not _checksum_ok(block):
            raise ArchiveError(f"not a tar archive, or corrupt: bad header checksum at offset {self._offset - BLOCK}")
        return block

    def _meta_body(self, size: int) -> bytes:
        if size > MAX_META_BYTES:
            raise ArchiveError(f"tar metadata header of {size} bytes refused (limit {MAX_META_BYTES})")
        body = self._read_exact(size)
        if len(body) < size:
            raise ArchiveError("archive is truncated (inside a metadata header)")
        self._skip(-size % BLOCK)
        return body

    def members(self) -> Iterator[TarMember]:
        """The members, in archive order. Stops at the end-of-archive marker."""
        while not self._ended:
            self._skip(self._remaining + self._padding)
            self._remaining = self._padding = 0
            member = self._next_member()
            if member is None:
                self._ended = True
                return
            self._current = member.name
            self._remaining = member.size
            self._padding = -member.size % BLOCK
            yield member

    def _next_member(self) -> TarMember | None:
        meta = _Meta()
        for _ in range(MAX_META_CHAIN + 1):
            block = self._header_block()
            if block is None:
                if meta.seen:
                    raise ArchiveError("archive ends after a metadata header")
                return None
            type_flag = block[156:157]
            size = _number(block[124:136], "size")
            if type_flag not in _META_TYPES:
                return _member(block, type_flag, size, meta)
            body = self._meta_body(size)
            meta.seen = True
            if type_flag == b"x":
                meta.pax.update(_parse_pax(body))
            elif type_flag == b"L":
                meta.long_name = _text(body)
            elif type_flag == b"K":
                meta.long_link = _text(body)
            # b"g": global pax defaults; nothing in them matters here.
        raise ArchiveError(f"more than {MAX_META_CHAIN} metadata headers in a row")

    def finish(self) -> None:
        """Consume what follows the end-of-archive marker (record padding; a gzip trailer, whose checksum is
        verified on the way). More than :data:`MAX_TRAILER_BYTES` of it is refused."""
        if not self._ended:
            raise ArchiveError("archive not read to its end")
        left = MAX_TRAILER_BYTES
        while chunk := self._stream.read(min(left + 1, _SKIP_CHUNK)):
            left -= len(chunk)
            if left < 0:
                raise ArchiveError("unexpected data after the end of the archive")

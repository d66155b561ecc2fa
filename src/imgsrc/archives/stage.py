"""Receiving an uploaded archive: one sequential pass that stores every file under its sha256.

The stream is read once, in order, in bounded chunks (it is an HTTP request body still arriving). Each regular
file is written to ``<staging>/blobs/sha256/<hex>`` while its sha256 is computed on the way — the only copy
ever made — so names from the archive never become paths on disk; they live only in a :class:`Tree`, through
which the readers later find ``manifest.json``, ``index.json`` and the blobs (following the archive's own
symlinks and hard links, which docker and skopeo use). Entries are checked as they arrive (names, link
targets, special files, limits); a file under ``blobs/sha256/`` whose content does not hash to its name is
refused at once.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from imgsrc.archives.compression import Readable, open_archive_stream
from imgsrc.archives.model import UploadLimits
from imgsrc.archives.tarstream import MemberKind, TarMember, TarReader
from imgsrc.archives.tree import Dir, File, Symlink, Tree, entry_parts, show
from imgsrc.errors import ArchiveError, ArchiveLimitError, IntegrityError

__all__ = ["StagedArchive", "StagedFile", "stage_archive"]

_CHUNK: Final = 256 * 1024  # below malloc's mmap threshold: fresh 1 MiB buffers page-fault on every read
_HEX: Final = re.compile(r"[a-f0-9]{64}")


@dataclass(frozen=True)
class StagedFile:
    """A file of the archive as stored in staging."""

    digest: str
    size: int
    path: Path


class StagedArchive:
    """The archive's names (a :class:`Tree`) over its content (files in staging, one per distinct digest)."""

    def __init__(self, staging: Path, limits: UploadLimits) -> None:
        self.staging = staging
        self.blob_dir = staging / "blobs" / "sha256"
        self.limits = limits
        self.tree: Tree[StagedFile] = Tree()
        self.entries = 0
        self.bytes = 0

    def has(self, name: str) -> bool:
        """Whether ``name`` leads (through links) to a regular file of the archive."""
        try:
            self.file(name)
        except ArchiveError:
            return False
        return True

    def file(self, name: str, *, what: str | None = None) -> StagedFile:
        """The staged file ``name`` leads to; ArchiveError (naming ``what`` or the name) when there is none."""
        label = what or name
        try:
            parts = entry_parts(name)
        except ArchiveError as exc:
            raise ArchiveError(f"{label}: refused path: {exc}") from None
        return self.tree.lookup_file(parts, entry=label)

    def read(self, name: str, *, what: str | None = None) -> bytes:
        """The content of the small document ``name`` (bounded by ``max_metadata_bytes``)."""
        staged = self.file(name, what=what)
        if staged.size > self.limits.max_metadata_bytes:
            raise ArchiveError(f"{what or name} is {staged.size} bytes, over the metadata limit")
        return staged.path.read_bytes()

    # --- receiving ------------------------------------------------------------------------------------------------

    def receive(self, stream: Readable) -> None:
        reader = TarReader(open_archive_stream(stream))
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        for member in reader.members():
            self.entries += 1
            if self.entries > self.limits.max_entries:
                raise ArchiveLimitError(f"archive has more than {self.limits.max_entries} entries")
            self._member(reader, member)
        reader.finish()
        self.tree.check_symlinks()

    def _member(self, reader: TarReader, member: TarMember) -> None:
        parts = entry_parts(member.name)
        if not parts:
            if member.kind is not MemberKind.DIRECTORY:
                raise ArchiveError(f"entry {show(member.name)}: names the archive root")
            return
        self.tree.check_placeable(parts, entry=member.name, directory=member.kind is MemberKind.DIRECTORY)
        if member.kind is MemberKind.DIRECTORY:
            self.tree.put(parts, Dir())
        elif member.kind is MemberKind.FILE:
            self.tree.put(parts, File(self._receive_file(reader, member, parts)))
        elif member.kind is MemberKind.SYMLINK:
            target = member.linkname
            if not target or "\x00" in target or target.startswith("/"):
                raise ArchiveError(f"entry {show(member.name)}: symlink target {show(target)} refused")
            self.tree.resolve((*parts[:-1], *target.split("/")), entry=member.name)
            self.tree.put(parts, Symlink(target))
        else:
            try:
                source = entry_parts(member.linkname)
            except ArchiveError as exc:
                raise ArchiveError(f"entry {show(member.name)}: hard link target refused: {exc}") from None
            node = self.tree.get(source)
            if not isinstance(node, File):
                raise ArchiveError(
                    f"entry {show(member.name)}: hard link to {show(member.linkname)}, "
                    "which is not a regular file received earlier"
                )
            self.tree.put(parts, node)

    def _receive_file(self, reader: TarReader, member: TarMember, parts: tuple[str, ...]) -> StagedFile:
        limit = self.limits.max_bytes
        if self.bytes + member.size > limit:
            raise ArchiveLimitError(f"entry {show(member.name)}: archive holds more than {limit} bytes")
        incoming = self.staging / f".incoming-{self.entries}"
        digest = hashlib.sha256()
        size = 0
        fd = os.open(incoming, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            while chunk := reader.read(_CHUNK):
                size += len(chunk)
                self.bytes += len(chunk)
                if self.bytes > limit:
                    raise ArchiveLimitError(f"entry {show(member.name)}: archive holds more than {limit} bytes")
                digest.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        hexdigest = digest.hexdigest()
        named_blob = len(parts) == 3 and parts[:2] == ("blobs", "sha256") and _HEX.fullmatch(parts[2])
        if named_blob and parts[2] != hexdigest:
            os.unlink(incoming)
            raise IntegrityError(f"entry {show(member.name)}: content hashes to sha256:{hexdigest}")
        final = self.blob_dir / hexdigest
        if final.exists():
            os.unlink(incoming)  # same content seen before: keep one copy
        else:
            os.rename(incoming, final)
        return StagedFile(f"sha256:{hexdigest}", size, final)


def stage_archive(stream: Readable, staging: Path, limits: UploadLimits) -> StagedArchive:
    """Receive the whole archive from ``stream`` into ``staging`` (an existing, empty directory).

    Raises ArchiveError/IntegrityError on the first problem; the caller cleans ``staging``.
    """
    staged = StagedArchive(staging, limits)
    staged.receive(stream)
    return staged

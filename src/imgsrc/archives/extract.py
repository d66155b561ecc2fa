"""Safe extraction of an untrusted tar (plain or gzip) into a fresh directory — the build-context unpacker.

The contract, enforced by this module's own checks (no reliance on :mod:`tarfile` filters):

* refused, naming the entry: absolute names, ``..`` components, symlinks whose target (followed through other
  links, as finally extracted) leads outside the root or is absolute, hard links to anything but a regular file
  extracted earlier, entries written *through* a symlink, a directory replaced by anything else, device nodes,
  fifos and other special entries;
* limits: ``max_entries`` members, ``max_bytes`` of file data — checked against each header's declared size up
  front *and* against the bytes actually written;
* modes keep their permission bits (executables stay executable) but never setuid, setgid or sticky bits;
  ownership is not restored;
* all or nothing: extraction happens in a private directory beside ``dest`` that is renamed to ``dest`` only
  after every check passed; on any failure it is removed and ``dest`` is left as it was.

Every path is opened relative to a directory descriptor with ``O_NOFOLLOW``, so even a check this module got
wrong could not make it write through a symlink.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from imgsrc.archives.compression import open_archive_stream
from imgsrc.archives.tarstream import MemberKind, TarMember, TarReader
from imgsrc.archives.tree import Dir, File, Symlink, Tree, entry_parts, show
from imgsrc.errors import ArchiveError, ArchiveLimitError

__all__ = ["ExtractLimits", "ExtractStats", "extract_tar", "remove_tree"]

_CHUNK: Final = 256 * 1024  # below malloc's mmap threshold: fresh 1 MiB buffers page-fault on every read
_DIR_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_PERMISSIONS: Final = 0o777  # what survives of a member's mode: no setuid, setgid or sticky bit


@dataclass(frozen=True)
class ExtractLimits:
    """Most members (of any kind) and most bytes of file data an archive may unpack to."""

    max_bytes: int
    max_entries: int


@dataclass(frozen=True)
class ExtractStats:
    """What an extraction produced: members processed and bytes of file data written."""

    entries: int
    bytes: int


def remove_tree(path: Path) -> None:
    """Remove ``path`` and everything below it, even directories an archive made read-only. Symlinks inside
    are removed, never followed."""
    if not os.path.lexists(path):
        return
    if stat.S_ISDIR(os.lstat(path).st_mode):
        os.chmod(path, 0o700)
        for dirpath, dirnames, _files in os.walk(path):
            for name in dirnames:
                child = os.path.join(dirpath, name)
                if stat.S_ISDIR(os.lstat(child).st_mode):
                    os.chmod(child, 0o700)
        shutil.rmtree(path)
    else:
        os.unlink(path)


def extract_tar(archive: Path, dest: Path, limits: ExtractLimits) -> ExtractStats:
    """Unpack ``archive`` (plain or gzip tar, told apart by magic bytes) into ``dest``, which must not exist or
    be an empty directory (it is then replaced, atomically, by the extracted tree).

    Raises ArchiveError naming the offending entry when the archive is hostile, malformed, truncated or over a
    limit; ``dest`` is then as it was (absent, or empty) and nothing of the attempt is left beside it.
    ``FileExistsError`` if ``dest`` exists and is not an empty directory (a caller mistake, not an archive
    problem).
    """
    if os.path.lexists(dest) and (dest.is_symlink() or not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"extraction target exists and is not an empty directory: {dest}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    try:
        with archive.open("rb") as raw:
            reader = TarReader(open_archive_stream(raw))
            stats = _Extractor(work, limits).run(reader)
        os.rename(work, dest)  # atomically replaces an empty directory, never a non-empty one
    except OSError as exc:
        remove_tree(work)
        raise ArchiveError(f"cannot extract the archive: {exc.strerror or exc}") from exc
    except BaseException:
        remove_tree(work)
        raise
    return stats


class _Extractor:
    def __init__(self, root: Path, limits: ExtractLimits) -> None:
        self._root = root
        self._limits = limits
        self._tree: Tree[None] = Tree()
        self._dir_meta: dict[tuple[str, ...], tuple[int, float]] = {}
        self._root_fd = -1
        self._cached: tuple[tuple[str, ...], int] | None = None  # the last parent directory opened
        self._entries = 0
        self._bytes = 0

    def run(self, reader: TarReader) -> ExtractStats:
        self._root_fd = os.open(self._root, _DIR_FLAGS)
        try:
            for member in reader.members():
                self._entries += 1
                if self._entries > self._limits.max_entries:
                    raise ArchiveLimitError(f"archive has more than {self._limits.max_entries} entries")
                try:
                    self._member(reader, member)
                except OSError as exc:
                    raise ArchiveError(f"entry {show(member.name)}: cannot extract: {exc.strerror}") from exc
            reader.finish()
        finally:
            self._uncache()
            os.close(self._root_fd)
        self._tree.check_symlinks()
        self._check_symlinks_on_disk()
        self._apply_directory_metadata()
        return ExtractStats(entries=self._entries, bytes=self._bytes)

    def _member(self, reader: TarReader, member: TarMember) -> None:
        parts = entry_parts(member.name)
        if not parts:
            if member.kind is not MemberKind.DIRECTORY:
                raise ArchiveError(f"entry {show(member.name)}: names the archive root")
            return
        self._tree.check_placeable(parts, entry=member.name, directory=member.kind is MemberKind.DIRECTORY)
        if member.kind is MemberKind.DIRECTORY:
            self._directory(member, parts)
        elif member.kind is MemberKind.FILE:
            self._file(reader, member, parts)
        elif member.kind is MemberKind.SYMLINK:
            self._symlink(member, parts)
        else:
            self._hardlink(member, parts)

    # --- directories: opened one component at a time, never through a link -----------------------------------

    def _open_dir(self, parts: tuple[str, ...], entry: str, *, create: bool) -> int:
        """A new descriptor of directory ``parts``, creating missing components when ``create``."""
        fd = self._root_fd
        for depth in range(1, len(parts) + 1):
            prefix = parts[:depth]
            node = self._tree.get(prefix)
            if isinstance(node, Symlink):
                raise ArchiveError(f"entry {show(entry)}: written through symlink {show('/'.join(prefix))}")
            if isinstance(node, File):
                raise ArchiveError(f"entry {show(entry)}: {show('/'.join(prefix))} is not a directory")
            try:
                if node is None:
                    if not create:
                        raise ArchiveError(f"entry {show(entry)}: {show('/'.join(prefix))} does not exist")
                    os.mkdir(prefix[-1], 0o755, dir_fd=fd)
                    self._tree.put(prefix, Dir())
                child = os.open(prefix[-1], _DIR_FLAGS, dir_fd=fd)
            finally:
                if fd != self._root_fd:
                    os.close(fd)
            fd = child
        return os.dup(fd) if fd == self._root_fd else fd

    def _parent(self, parts: tuple[str, ...], entry: str) -> int:
        """Descriptor of the parent directory of ``parts`` (cached: archives list siblings together; valid
        because a directory, once made, is never replaced)."""
        key = parts[:-1]
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        self._uncache()
        fd = self._open_dir(key, entry, create=True)
        self._cached = (key, fd)
        return fd

    def _uncache(self) -> None:
        if self._cached is not None:
            os.close(self._cached[1])
            self._cached = None

    def _make_room(self, parts: tuple[str, ...], parent_fd: int, entry: str) -> None:
        """A later entry replaces an earlier file or link of the same name (tar semantics), never a directory."""
        node = self._tree.get(parts)
        if node is None:
            return
        if isinstance(node, Dir):
            raise ArchiveError(f"entry {show(entry)}: would replace a directory")
        os.unlink(parts[-1], dir_fd=parent_fd)

    def _directory(self, member: TarMember, parts: tuple[str, ...]) -> None:
        node = self._tree.get(parts)
        if node is None:
            parent = self._parent(parts, member.name)
            os.mkdir(parts[-1], 0o755, dir_fd=parent)
            self._tree.put(parts, Dir())
        elif not isinstance(node, Dir):
            raise ArchiveError(f"entry {show(member.name)}: directory would replace a file or link")
        # Applied at the end: a read-only directory must stay writable while its children are extracted.
        self._dir_meta[parts] = (member.mode & _PERMISSIONS, member.mtime)

    # --- files and links ---------------------------------------------------------------------------------------

    def _file(self, reader: TarReader, member: TarMember, parts: tuple[str, ...]) -> None:
        limit = self._limits.max_bytes
        if self._bytes + member.size > limit:
            raise ArchiveLimitError(f"entry {show(member.name)}: archive unpacks to more than {limit} bytes")
        parent = self._parent(parts, member.name)
        self._make_room(parts, parent, member.name)
        fd = os.open(parts[-1], _FILE_FLAGS, 0o600, dir_fd=parent)
        try:
            self._tree.put(parts, File(None))
            while chunk := reader.read(_CHUNK):
                self._bytes += len(chunk)
                if self._bytes > limit:
                    raise ArchiveLimitError(f"entry {show(member.name)}: archive unpacks to more than {limit} bytes")
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
            os.fchmod(fd, member.mode & _PERMISSIONS)
            os.utime(fd, (member.mtime, member.mtime))
        finally:
            os.close(fd)

    def _symlink(self, member: TarMember, parts: tuple[str, ...]) -> None:
        target = member.linkname
        if not target or "\x00" in target:
            raise ArchiveError(f"entry {show(member.name)}: empty or invalid symlink target")
        if target.startswith("/"):
            raise ArchiveError(f"entry {show(member.name)}: absolute symlink target {show(target)} refused")
        self._tree.resolve((*parts[:-1], *target.split("/")), entry=member.name)
        parent = self._parent(parts, member.name)
        self._make_room(parts, parent, member.name)
        os.symlink(target, parts[-1], dir_fd=parent)
        self._tree.put(parts, Symlink(target))

    def _hardlink(self, member: TarMember, parts: tuple[str, ...]) -> None:
        try:
            source = entry_parts(member.linkname)
        except ArchiveError as exc:
            raise ArchiveError(f"entry {show(member.name)}: hard link target refused: {exc}") from None
        if source == parts or not isinstance(self._tree.get(source), File):
            raise ArchiveError(
                f"entry {show(member.name)}: hard link to {show(member.linkname)}, "
                "which is not a regular file extracted earlier"
            )
        parent = self._parent(parts, member.name)
        source_fd = self._open_dir(source[:-1], member.name, create=False)
        try:
            self._make_room(parts, parent, member.name)
            os.link(source[-1], parts[-1], src_dir_fd=source_fd, dst_dir_fd=parent, follow_symlinks=False)
        finally:
            os.close(source_fd)
        self._tree.put(parts, File(None))

    # --- final checks --------------------------------------------------------------------------------------------

    def _check_symlinks_on_disk(self) -> None:
        """Second opinion from the filesystem itself: every link, fully resolved, stays under the root."""
        root = os.path.realpath(self._root)
        for parts, _link in self._tree.symlinks():
            real = os.path.realpath(os.path.join(self._root, *parts))
            if real != root and not real.startswith(root + os.sep):
                raise ArchiveError(f"entry {show('/'.join(parts))}: link leads outside the archive root")

    def _apply_directory_metadata(self) -> None:
        # Deepest first, so that restricting a parent never blocks reaching its children.
        for parts in sorted(self._dir_meta, key=len, reverse=True):
            mode, mtime = self._dir_meta[parts]
            path = os.path.join(self._root, *parts)
            os.chmod(path, mode)
            os.utime(path, (mtime, mtime))

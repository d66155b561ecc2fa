"""Entry names and the tree an archive describes, resolved without touching the filesystem.

Archive entry names are untrusted text. :func:`entry_parts` turns one into path components and refuses the names
no legitimate image or build context needs: absolute paths, ``..`` components, NUL bytes. Symlink *targets* may
legitimately use ``..`` (``lib -> ../usr/lib``), so they are judged by where they lead: :class:`Tree` records
what the archive has created so far and resolves paths through its symlinks exactly as a kernel would inside a
chroot at the archive root, refusing any that would climb above it. Resolution is done on this record, never on
the disk, so a hostile archive cannot make the check itself follow a link outside.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from imgsrc.errors import ArchiveError

__all__ = ["Dir", "File", "Symlink", "Tree", "entry_parts", "show"]

# Linux gives up after 40 symlink expansions (ELOOP); so do we.
MAX_LINK_HOPS: Final = 40
_SHOW_MAX: Final = 160

T = TypeVar("T")


def show(name: str) -> str:
    """An entry name fit for an error message: quoted, control characters escaped, very long names cut."""
    if len(name) > _SHOW_MAX:
        name = name[:_SHOW_MAX] + "…"
    return repr(name)


def entry_parts(name: str) -> tuple[str, ...]:
    """The path components of an archive entry name (``./a//b/`` → ``("a", "b")``; the root is ``()``).

    Raises ArchiveError for absolute names, ``..`` components and NUL bytes: such names only ever serve to
    write outside the extraction root, so they are refused rather than rewritten.
    """
    if "\x00" in name:
        raise ArchiveError(f"entry {show(name)}: NUL byte in name")
    if name.startswith("/"):
        raise ArchiveError(f"entry {show(name)}: absolute path refused")
    parts = tuple(part for part in name.split("/") if part not in ("", "."))
    if ".." in parts:
        raise ArchiveError(f"entry {show(name)}: '..' component refused")
    return parts


@dataclass(frozen=True)
class Dir:
    """A directory, created explicitly by an entry or implicitly as the parent of one."""


@dataclass(frozen=True)
class Symlink:
    """A symbolic link; ``target`` is the link text exactly as the archive gave it."""

    target: str


@dataclass(frozen=True)
class File(Generic[T]):
    """A regular file (or a hard link to one); ``payload`` is whatever the consumer keeps about its content."""

    payload: T


class Tree(Generic[T]):
    """What an archive has created so far, keyed by path components.

    Directories are never replaced by anything else (callers refuse that), so a path whose parents are all
    directories here is free of symlinks on disk too.
    """

    def __init__(self) -> None:
        self._nodes: dict[tuple[str, ...], Dir | Symlink | File[T]] = {(): Dir()}

    def get(self, parts: tuple[str, ...]) -> Dir | Symlink | File[T] | None:
        """The node recorded at exactly ``parts`` (no link following)."""
        return self._nodes.get(parts)

    def put(self, parts: tuple[str, ...], node: Dir | Symlink | File[T]) -> None:
        """Record ``node`` at ``parts`` and make every missing parent a directory."""
        for depth in range(1, len(parts)):
            self._nodes.setdefault(parts[:depth], Dir())
        self._nodes[parts] = node

    def check_placeable(self, parts: tuple[str, ...], *, entry: str, directory: bool) -> None:
        """Refuse an entry at ``parts`` that would be written through a symlink or a file, or that would turn a
        directory into something else (or a file or link into a directory). Replacing a file or link by a
        later file or link of the same name is allowed (tar semantics: the last one wins)."""
        for depth in range(1, len(parts)):
            parent = self._nodes.get(parts[:depth])
            if isinstance(parent, Symlink):
                raise ArchiveError(f"entry {show(entry)}: written through symlink {show('/'.join(parts[:depth]))}")
            if isinstance(parent, File):
                raise ArchiveError(f"entry {show(entry)}: {show('/'.join(parts[:depth]))} is not a directory")
        existing = self._nodes.get(parts)
        if existing is not None and isinstance(existing, Dir) != directory:
            raise ArchiveError(f"entry {show(entry)}: conflicts with an earlier entry of another type")

    def symlinks(self) -> Iterator[tuple[tuple[str, ...], Symlink]]:
        """Every symlink recorded, with its path."""
        for parts, node in self._nodes.items():
            if isinstance(node, Symlink):
                yield parts, node

    def directories(self) -> Iterator[tuple[str, ...]]:
        """Every directory recorded except the root."""
        return (parts for parts, node in self._nodes.items() if isinstance(node, Dir) and parts)

    def resolve(self, parts: tuple[str, ...], *, entry: str, follow_last: bool = True) -> tuple[str, ...] | None:
        """Where ``parts`` leads once every recorded symlink on the way is followed.

        Components that do not exist (yet) are taken literally, as ``realpath`` does. Returns ``None`` when the
        links loop (such a path leads nowhere, which is harmless); raises ArchiveError naming ``entry`` when the
        path climbs above the root or a link is absolute.
        """
        pending = list(reversed(parts))
        resolved: list[str] = []
        hops = 0
        while pending:
            part = pending.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if not resolved:
                    raise ArchiveError(f"entry {show(entry)}: link leads outside the archive root")
                resolved.pop()
                continue
            resolved.append(part)
            node = self._nodes.get(tuple(resolved))
            if isinstance(node, Symlink) and (pending or follow_last):
                hops += 1
                if hops > MAX_LINK_HOPS:
                    return None
                if node.target.startswith("/"):
                    raise ArchiveError(f"entry {show(entry)}: link leads outside the archive root")
                resolved.pop()
                pending.extend(reversed(node.target.split("/")))
        return tuple(resolved)

    def check_symlinks(self) -> None:
        """Refuse the archive if any symlink, judged against the final tree, leads outside the root.

        Needed on top of the check made when each link is created: a later entry can turn a harmless target
        (``d/q/..``) into an escaping one by making ``d/q`` a link itself.
        """
        for parts, link in list(self.symlinks()):
            self.resolve((*parts[:-1], *link.target.split("/")), entry="/".join(parts))

    def lookup_file(self, parts: tuple[str, ...], *, entry: str) -> T:
        """The payload of the regular file ``parts`` leads to (through links); ArchiveError when there is none."""
        target = self.resolve(parts, entry=entry)
        node = None if target is None else self._nodes.get(target)
        if not isinstance(node, File):
            raise ArchiveError(f"{show(entry)} is missing from the archive (or is not a regular file)")
        return node.payload

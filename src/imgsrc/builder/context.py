"""Build contexts: where they come from (a git repository, a served ``.tar.gz``), fetching them into a work
directory, and locating the context directory and the Dockerfile inside.

The builder knows nothing of HTTP requests or the database: callers translate an image source's origin into a
:class:`GitSource` or a :class:`TarballSource` and call :func:`fetch_context`, then :func:`resolve_context`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from imgsrc.builder.redact import redact_url
from imgsrc.errors import BuildError, InvalidArgumentError
from imgsrc.settings import Settings

__all__ = ["ContextSource", "GitSource", "TarballSource", "fetch_context", "resolve_context"]

RefType = Literal["branch", "tag", "hash"]


@dataclass(frozen=True, repr=False)
class GitSource:
    """A git repository to check out.

    ``url``: ``https://``, ``http://``, ``ssh://``, scp-like ``user@host:path``, ``git://``, and — only when
    the caller allows local repositories — ``file://`` or an absolute path. ``ref_type``/``ref_value`` choose
    a branch, a tag or a commit hash; ``branch`` alone chooses a branch; with a hash, ``branch`` is a
    constraint (the commit must be on it). Neither: the remote's default branch. ``http_*`` credentials are
    used for http(s) URLs, ``ssh_*`` for ssh ones.
    """

    url: str
    branch: str | None = None
    ref_type: RefType | None = None
    ref_value: str | None = None
    http_username: str | None = None
    http_password: str | None = None
    ssh_username: str | None = None
    ssh_private_key: str | None = None
    ssh_passphrase: str | None = None

    def __repr__(self) -> str:
        secret = {"http_password": self.http_password, "ssh_private_key": self.ssh_private_key}
        masked = ", ".join(f"{k}={'<set>' if v else None}" for k, v in secret.items())
        return (
            f"GitSource(url={redact_url(self.url)!r}, branch={self.branch!r}, ref_type={self.ref_type!r}, "
            f"ref_value={self.ref_value!r}, http_username={self.http_username!r}, "
            f"ssh_username={self.ssh_username!r}, {masked})"
        )


@dataclass(frozen=True, repr=False)
class TarballSource:
    """A ``.tar.gz`` (or plain ``.tar``) served over ``http(s)``; unpacked with the project's hardened
    extractor under the settings' size and entry-count limits."""

    url: str

    def __repr__(self) -> str:
        return f"TarballSource(url={redact_url(self.url)!r})"


ContextSource = GitSource | TarballSource


async def fetch_context(
    source: ContextSource,
    workdir: Path,
    settings: Settings,
    log: Callable[[str], None],
    *,
    allow_local: bool = False,
    secrets_dir: Path | None = None,
) -> Path:
    """Fetch ``source`` into ``workdir`` (which must exist and belong to this build) and return the root of
    the checkout or unpacked archive.

    ``log`` receives a few human lines (what was fetched, the commit checked out), never a secret.
    ``allow_local`` permits ``file://`` and path repositories: off by default, since a build request must not
    read repositories on the server's own disk. ``secrets_dir`` is where private credential files go
    (default: ``/dev/shm``, else ``workdir``); they are removed before this returns or raises.
    Raises :class:`BuildError` (unreachable, authentication refused, not found, over a limit),
    :class:`ArchiveError` (hostile archive) or :class:`InvalidArgumentError` (unusable URL or ref).
    """
    if isinstance(source, GitSource):
        from imgsrc.builder.git import fetch_git

        return await fetch_git(source, workdir, settings, log, allow_local=allow_local, secrets_dir=secrets_dir)
    from imgsrc.builder.targz import fetch_tarball

    return await fetch_tarball(source, workdir, settings, log)


def _locate(root: Path, value: str, base: Path, what: str) -> Path:
    """``value`` resolved inside ``root``: relative to ``base``, or to ``root`` when it starts with ``/``.
    Symbolic links are followed; the result must stay inside ``root``."""
    if "\x00" in value:
        raise InvalidArgumentError(f"{what} contains a NUL character")
    parts = PurePosixPath(value).parts
    if ".." in parts:
        raise InvalidArgumentError(f"{what} {value!r} must not contain '..'")
    relative = value.lstrip("/")
    candidate = (root if value.startswith("/") else base) / relative
    resolved = Path(os.path.realpath(candidate))
    if not resolved.is_relative_to(root):
        raise InvalidArgumentError(f"{what} {value!r} leads outside the build context through a symbolic link")
    return resolved


def resolve_context(root: Path, context_dir: str | None, build_file: str | None) -> tuple[Path, Path]:
    """Locate the build context directory and the Dockerfile in a fetched tree rooted at ``root``.

    ``context_dir`` defaults to the root; ``build_file`` to ``Dockerfile`` inside the context. Both may start
    with ``/``, meaning the root; a relative ``build_file`` is relative to the context. Returns real paths
    (symbolic links resolved, so buildah is handed exactly what was checked).

    The Dockerfile may lie outside the context directory as long as it is inside the root (``/docker/api``
    for context ``/services/api``, as ``docker build -f`` allows): buildah only reads that one file, from the
    resolved path given here. Raises :class:`InvalidArgumentError` for ``..`` or a symbolic link leading
    outside the root, and :class:`BuildError` when the context directory or the Dockerfile does not exist in
    the fetched tree.
    """
    real_root = Path(os.path.realpath(root))
    context = _locate(real_root, context_dir or "/", real_root, "context_dir")
    if not context.is_dir():
        raise BuildError(f"the build context directory {context_dir!r} does not exist in the repository")
    dockerfile = _locate(real_root, build_file or "Dockerfile", context, "build_file")
    if not dockerfile.is_file():
        where = f"{build_file!r}" if build_file else f"'Dockerfile' in {context_dir or '/'!r}"
        raise BuildError(f"no Dockerfile found at {where}")
    return context, dockerfile

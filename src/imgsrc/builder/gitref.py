"""Pure parsing for git fetches: repository URLs (transport, embedded credentials) and ref names.

Kept free of I/O so that the rules — which transports exist, what a safe ref name is — can be tested on their
own, with open-ended inputs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from imgsrc.builder.redact import redact_url
from imgsrc.errors import InvalidArgumentError

__all__ = ["RepoURL", "Transport", "check_hash", "check_ref_name", "is_full_hash", "parse_repo_url"]

Transport = Literal["http", "ssh", "git", "file"]

# ``[user@]host:path`` (git's scp-like syntax): no ``/`` before the first ``:``.
_SCP_LIKE = re.compile(r"^(?:[^@/\s]+@)?[^@/:\s]+:")
_HASH = re.compile(r"^[0-9a-fA-F]{4,64}$")
_FULL_HASH_LENGTHS = (40, 64)
# git check-ref-format's forbidden characters, plus whitespace.
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")

_PROTOCOLS: dict[Transport, str] = {
    # http may be redirected to https; the reverse would be a downgrade.
    "http": "http:https",
    "ssh": "ssh",
    "git": "git",
    "file": "file",
}


@dataclass(frozen=True, repr=False)
class RepoURL:
    """A repository URL as handed to git (userinfo removed for http), its transport, the
    ``GIT_ALLOW_PROTOCOL`` value that admits exactly that transport, and credentials that were embedded in the
    URL (http only)."""

    url: str
    transport: Transport
    username: str | None = None
    password: str | None = None

    @property
    def allowed_protocols(self) -> str:
        if self.url.startswith("https://"):
            return "https"  # an https remote may not be redirected down to plain http
        return _PROTOCOLS[self.transport]

    @property
    def shown(self) -> str:
        """The URL as it may appear in logs and messages."""
        return redact_url(self.url)

    def __repr__(self) -> str:
        return f"RepoURL(url={self.shown!r}, transport={self.transport!r})"


def _strip_userinfo(parts: SplitResult) -> tuple[str, str | None, str | None]:
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port is not None else "")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), username, password


def _parse_scheme_url(url: str, shown: str, allow_local: bool) -> RepoURL:
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a malformed port
    except ValueError as exc:
        raise InvalidArgumentError(f"the repository URL {shown!r} is not valid") from exc
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise InvalidArgumentError(f"the repository URL {shown!r} has no host")
        clean, username, password = _strip_userinfo(parts)
        return RepoURL(clean, "http", username, password)
    if scheme in ("ssh", "git+ssh", "ssh+git"):
        if parts.password:
            raise InvalidArgumentError("passwords in ssh repository URLs are not supported: use a key")
        if not parts.hostname:
            raise InvalidArgumentError(f"the repository URL {shown!r} has no host")
        return RepoURL(url, "ssh")
    if scheme == "git":
        return RepoURL(url, "git")
    if scheme == "file":
        if not allow_local:
            raise InvalidArgumentError("local repositories (file://) are not allowed")
        return RepoURL(url, "file")
    raise InvalidArgumentError(f"unsupported repository URL scheme {scheme!r}")


def parse_repo_url(url: str, *, allow_local: bool) -> RepoURL:
    """Classify ``url`` and make it safe to hand to git. Raises :class:`InvalidArgumentError` for anything that
    is not an http(s), ssh, git or (when ``allow_local``) local repository."""
    url = url.strip()
    shown = redact_url(url)
    if not url or any(ord(ch) < 32 or ord(ch) == 127 for ch in url) or url.startswith("-"):
        raise InvalidArgumentError(f"the repository URL {shown!r} is not valid")
    if "://" in url:
        return _parse_scheme_url(url, shown, allow_local)
    if url.startswith(("/", "./", "../")):
        if not allow_local:
            raise InvalidArgumentError("local repository paths are not allowed")
        if not url.startswith("/"):
            raise InvalidArgumentError("a local repository path must be absolute")
        return RepoURL(url, "file")
    # ``<transport>::<address>`` names a remote helper (``ext::`` runs commands): never an scp-like URL.
    if _SCP_LIKE.match(url) and "::" not in url:
        return RepoURL(url, "ssh")
    raise InvalidArgumentError(f"the repository URL {shown!r} is not an http(s), ssh or git URL")


def check_ref_name(name: str, what: str) -> str:
    """``name`` if it is a safe branch or tag name (a conservative subset of ``git check-ref-format``), else
    :class:`InvalidArgumentError`. ``refs/heads/`` or ``refs/tags/`` prefixes are not accepted: the type says
    which namespace is meant."""
    bad = (
        not name
        or name.startswith(("-", "/", "."))
        or name.endswith(("/", ".", ".lock"))
        or ".." in name
        or "@{" in name
        or "//" in name
        or name == "@"
        or "/." in name
        or _REF_FORBIDDEN.search(name) is not None
        or any(ch.isspace() or not ch.isprintable() for ch in name)
        or name.startswith(("refs/heads/", "refs/tags/"))
    )
    if bad:
        raise InvalidArgumentError(f"{what} {name!r} is not a valid git ref name")
    return name


def check_hash(value: str) -> str:
    """``value`` lower-cased if it is a (possibly abbreviated, at least 4 digits) commit hash."""
    if not _HASH.match(value):
        raise InvalidArgumentError(f"commit hash {value!r} is not a hexadecimal hash")
    return value.lower()


def is_full_hash(value: str) -> bool:
    """A complete SHA-1 or SHA-256 object name (only those can be fetched directly)."""
    return len(value) in _FULL_HASH_LENGTHS and _HASH.match(value) is not None

"""Image references and digests: parse, normalise, format. Pure value objects, no I/O.

The grammar is the one of CNCF distribution's ``reference`` package (what ``docker pull`` accepts)::

    reference   := name [ ":" tag ] [ "@" digest ]
    name        := [ domain "/" ] path            (at most 255 characters)
    domain      := host [ ":" port ]              (host: DNS name, IPv4 or [IPv6]; "localhost" counts)
    path        := component ( "/" component )*   (lowercase alphanumerics joined by ".", "_", "__" or "-"+)
    tag         := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest      := "sha256:" 64 lowercase hex  |  "sha512:" 128 lowercase hex

Normalisation follows Docker: the first path element is a registry host only if it contains ``.`` or ``:``,
is ``localhost``, or has uppercase letters; otherwise the default registry (``docker.io``) is implied, and a
one-element Docker Hub path gets ``library/``. ``index.docker.io`` is spelled ``docker.io``. A reference with
neither tag nor digest gets the tag ``latest``.

:func:`parse_registry_url` reads an image source's registry ``url`` into an endpoint: ``http://`` means plain
HTTP (local and test registries), no scheme or ``https://`` means HTTPS. A path after the host is a
**repository prefix** (``https://registry.example.com/team`` + target ``app`` = repository ``team/app``), since
users paste ``ghcr.io/org`` as often as ``ghcr.io``.

Every parsing failure raises :class:`~imgsrc.errors.InvalidArgumentError` saying what is wrong.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from imgsrc.errors import InvalidArgumentError

__all__ = [
    "DOCKER_HUB",
    "Digest",
    "ImageReference",
    "RegistryURL",
    "parse_registry_url",
]

DOCKER_HUB = "docker.io"
_LEGACY_HUB_NAMES = frozenset({"index.docker.io", "registry-1.docker.io"})
NAME_MAX = 255
TAG_MAX = 128
_HEX_LENGTHS = {"sha256": 64, "sha512": 128}

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_DOMAIN_RE = re.compile(rf"{_HOST}(?::[0-9]+)?")
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_ALGORITHM_RE = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*")
_HEX_RE = re.compile(r"[a-f0-9]+")
_FULL_HEX_RE = re.compile(r"[a-f0-9]{64}")


@dataclass(frozen=True, order=True)
class Digest:
    """A content digest: ``algorithm`` (``sha256`` or ``sha512``) and lowercase ``hex``."""

    algorithm: str
    hex: str

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse ``sha256:<64 hex>`` (or ``sha512:<128 hex>``); uppercase hex is refused, as distribution does."""
        algorithm, sep, hex_part = text.partition(":")
        if not sep or not _ALGORITHM_RE.fullmatch(algorithm):
            raise InvalidArgumentError(f"invalid digest {text!r}: expected <algorithm>:<hex>, e.g. sha256:…")
        expected = _HEX_LENGTHS.get(algorithm)
        if expected is None:
            raise InvalidArgumentError(f"invalid digest {text!r}: unsupported algorithm {algorithm!r}")
        if len(hex_part) != expected or not _HEX_RE.fullmatch(hex_part):
            raise InvalidArgumentError(
                f"invalid digest {text!r}: {algorithm} needs {expected} lowercase hexadecimal characters"
            )
        return cls(algorithm, hex_part)

    @classmethod
    def sha256(cls, hex_digest: str) -> Digest:
        """Wrap a ``hashlib.sha256(...).hexdigest()`` result."""
        return cls.parse(f"sha256:{hex_digest}")

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


@dataclass(frozen=True)
class ImageReference:
    """A normalised image reference: ``registry`` host (with port), ``repository`` path, and a ``tag`` and/or
    ``digest``. At least one of the two is set (``latest`` is implied when neither is given)."""

    registry: str
    repository: str
    tag: str | None = None
    digest: Digest | None = None

    def __post_init__(self) -> None:
        if self.tag is None and self.digest is None:
            object.__setattr__(self, "tag", "latest")

    @classmethod
    def parse(cls, target: str, *, default_registry: str = DOCKER_HUB) -> ImageReference:
        """Parse ``target`` (``redis``, ``org/app:1.2``, ``ghcr.io/o/a@sha256:…``, ``localhost:5000/a:t@sha256:…``).

        ``default_registry`` is the registry of a reference that names none (``docker.io``: Docker Hub, whose
        single-element paths get ``library/``).
        """
        if not target or target != target.strip():
            raise InvalidArgumentError(f"invalid image reference {target!r}: empty or surrounded by whitespace")
        rest, at, digest_text = target.partition("@")
        digest = Digest.parse(digest_text) if at else None
        name, tag = _split_tag(rest, target)
        if len(name) > NAME_MAX:
            raise InvalidArgumentError(f"invalid image reference {target!r}: name longer than {NAME_MAX}")
        registry, path = _split_registry(name, default_registry)
        _check_registry(registry, target)
        if not _PATH_RE.fullmatch(path):
            if path.lower() != path and _PATH_RE.fullmatch(path.lower()):
                raise InvalidArgumentError(f"invalid image reference {target!r}: repository must be lowercase")
            raise InvalidArgumentError(
                f"invalid image reference {target!r}: repository {path!r} must be lowercase letters, digits "
                "and separators (., _, __, -) in '/'-separated components"
            )
        if _FULL_HEX_RE.fullmatch(path):
            raise InvalidArgumentError(
                f"invalid image reference {target!r}: a 64-character hexadecimal string is an image ID, "
                "not a repository"
            )
        if registry == DOCKER_HUB and "/" not in path:
            path = f"library/{path}"
        if len(f"{registry}/{path}") > NAME_MAX:
            raise InvalidArgumentError(f"invalid image reference {target!r}: name longer than {NAME_MAX}")
        return cls(registry=registry, repository=path, tag=tag, digest=digest)

    @property
    def name(self) -> str:
        """``registry/repository`` without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def reference(self) -> str:
        """What goes after ``/manifests/``: the digest if any, else the tag."""
        if self.digest is not None:
            return str(self.digest)
        return self.tag or "latest"  # __post_init__ guarantees a tag when there is no digest

    @property
    def is_docker_hub(self) -> bool:
        return self.registry == DOCKER_HUB

    def with_registry(self, registry: str) -> ImageReference:
        """The same repository, tag and digest on another registry host."""
        registry = _normalise_registry(registry)
        _check_registry(registry, registry)
        return dataclasses.replace(self, registry=registry)

    def with_digest(self, digest: Digest) -> ImageReference:
        """The same reference pinned to ``digest`` (the tag is kept for display)."""
        return dataclasses.replace(self, digest=digest)

    def __str__(self) -> str:
        text = self.name
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


@dataclass(frozen=True)
class RegistryURL:
    """A registry endpoint read from a source's ``url``: ``scheme``, ``host`` (with port) and a repository
    ``prefix`` (``""`` when the URL has no path)."""

    scheme: Literal["http", "https"]
    host: str
    prefix: str = ""

    @property
    def base_url(self) -> str:
        """``scheme://host``, what the client talks to."""
        return f"{self.scheme}://{self.host}"

    def repository(self, path: str) -> str:
        """``path`` under this endpoint's prefix."""
        return f"{self.prefix}/{path}" if self.prefix else path


def parse_registry_url(url: str) -> RegistryURL:
    """Read a registry ``url`` (``http://localhost:5000``, ``ghcr.io``, ``https://r.example.com/team``).

    Only ``http`` and ``https`` are accepted; credentials, queries and fragments in the URL are refused (the
    message never repeats the URL, as it might hold a password).
    """
    text = url.strip()
    if not text:
        raise InvalidArgumentError("registry URL is empty")
    has_scheme = "://" in text
    parts = urlsplit(text if has_scheme else f"https://{text}")
    if parts.scheme not in ("http", "https"):
        raise InvalidArgumentError("registry URL must use http:// or https:// (or no scheme, meaning https)")
    if "@" in parts.netloc:
        raise InvalidArgumentError("registry URL must not contain credentials; use the source's credentials")
    if parts.query or parts.fragment:
        raise InvalidArgumentError(f"registry URL {text!r} must not have a query or fragment")
    host = _normalise_registry(parts.netloc)
    _check_registry(host, text)
    prefix = parts.path.strip("/")
    if prefix and not _PATH_RE.fullmatch(prefix):
        raise InvalidArgumentError(
            f"registry URL {text!r}: the path after the host is a repository prefix and must be lowercase "
            "'/'-separated components"
        )
    scheme: Literal["http", "https"] = "http" if parts.scheme == "http" else "https"
    return RegistryURL(scheme=scheme, host=host, prefix=prefix)


def _split_tag(rest: str, target: str) -> tuple[str, str | None]:
    """Split ``name[:tag]``; a ``:`` before the last ``/`` belongs to a registry port, not a tag."""
    colon = rest.rfind(":")
    if colon == -1 or "/" in rest[colon:]:
        return rest, None
    name, tag = rest[:colon], rest[colon + 1 :]
    if not _TAG_RE.fullmatch(tag):
        raise InvalidArgumentError(
            f"invalid image reference {target!r}: tag {tag!r} must be 1-{TAG_MAX} of letters, digits, "
            "'_', '.', '-' and not start with '.' or '-'"
        )
    return name, tag


def _split_registry(name: str, default_registry: str) -> tuple[str, str]:
    first, slash, remainder = name.partition("/")
    if slash and (any(c in first for c in ".:") or first == "localhost" or first.lower() != first):
        return _normalise_registry(first), remainder
    return _normalise_registry(default_registry), name


def _normalise_registry(registry: str) -> str:
    return DOCKER_HUB if registry in _LEGACY_HUB_NAMES else registry


def _check_registry(registry: str, target: str) -> None:
    if not _DOMAIN_RE.fullmatch(registry):
        raise InvalidArgumentError(f"invalid image reference {target!r}: invalid registry host {registry!r}")
    _, colon, port = registry.rpartition(":")
    if colon and port.isdigit() and not 0 < int(port) < 65536:
        raise InvalidArgumentError(f"invalid image reference {target!r}: port {port} out of range")

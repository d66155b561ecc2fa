"""The parts of a ``/v2`` request (pure): repository names, references, digests, tag pages and byte ranges.

Invalid input raises :class:`~imgsrc.errors.InvalidSyntaxError` (400) naming its distribution code in
``extra["oci_code"]``; an unsatisfiable range is :class:`~imgsrc.errors.InvalidArgumentError` with the code
``416.range-not-satisfiable`` (HTTP 416) and ``RANGE_INVALID``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from imgsrc.api.v2.errors import OCI_CODE
from imgsrc.errors import InvalidArgumentError, InvalidSyntaxError

__all__ = [
    "MAX_PAGE",
    "RANGE_NOT_SATISFIABLE",
    "ByteRange",
    "Reference",
    "check_digest",
    "check_name",
    "page_of",
    "parse_page_size",
    "parse_range",
    "parse_reference",
]

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME_RE: Final = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
TAG_RE: Final = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
DIGEST_RE: Final = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
SHA256_RE: Final = re.compile(r"sha256:[0-9a-f]{64}")
MAX_NAME: Final = 255
MAX_PAGE: Final = 1000
"""Most tags one page holds; a larger ``n`` gets this many and a ``Link`` to the rest (the spec allows it)."""


def _invalid(message: str, oci_code: str) -> InvalidSyntaxError:
    return InvalidSyntaxError(message, extra={OCI_CODE: oci_code})


def check_name(name: str) -> str:
    """``name`` if it is a repository name the spec allows (``NAME_INVALID`` otherwise)."""
    if len(name) > MAX_NAME or NAME_RE.fullmatch(name) is None:
        raise _invalid("invalid repository name", "NAME_INVALID")
    return name


@dataclass(frozen=True)
class Reference:
    """A manifest reference: a tag, or a digest. ``stored`` says whether a digest could name stored content at
    all (only sha256 digests can: the store knows no other algorithm)."""

    kind: Literal["tag", "digest"]
    value: str

    @property
    def stored(self) -> bool:
        return self.kind == "tag" or SHA256_RE.fullmatch(self.value) is not None


def parse_reference(reference: str) -> Reference:
    """A tag (``TAG_INVALID`` if malformed) or, when it holds a colon, a digest (``DIGEST_INVALID``)."""
    if ":" in reference:
        if DIGEST_RE.fullmatch(reference) is None:
            raise _invalid("invalid digest", "DIGEST_INVALID")
        return Reference("digest", reference)
    if TAG_RE.fullmatch(reference) is None:
        raise _invalid("invalid tag", "TAG_INVALID")
    return Reference("tag", reference)


def check_digest(digest: str) -> Reference:
    """A blob digest (``DIGEST_INVALID`` if malformed); see :attr:`Reference.stored`."""
    if DIGEST_RE.fullmatch(digest) is None:
        raise _invalid("invalid digest", "DIGEST_INVALID")
    return Reference("digest", digest)


def parse_page_size(value: str | None) -> int | None:
    """The ``n`` of a tag listing: absent (``None``: everything) or a non-negative integer."""
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 9:
        raise _invalid("n must be a non-negative integer", "PAGINATION_NUMBER_INVALID")
    return int(value)


def page_of(tags: list[str], n: int | None, last: str | None) -> tuple[list[str], bool]:
    """The tags after ``last`` (exclusive; ``tags`` is sorted), at most ``n`` of them (at most
    :data:`MAX_PAGE` when ``n`` is given), and whether more follow. ``n == 0`` is an empty page with nothing
    following, as the spec requires."""
    rest = [tag for tag in tags if tag > last] if last else tags
    if n is None:
        return rest, False
    if n == 0:
        return [], False
    size = min(n, MAX_PAGE)
    return rest[:size], len(rest) > size


@dataclass(frozen=True)
class ByteRange:
    """Bytes ``start`` up to ``end`` (exclusive) of a blob of ``size`` bytes."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        return self.end - self.start

    @property
    def content_range(self) -> str:
        return f"bytes {self.start}-{self.end - 1}/{self.size}"


RANGE_NOT_SATISFIABLE: Final = "416.range-not-satisfiable"


def _unsatisfiable(size: int) -> InvalidArgumentError:
    """416 ``RANGE_INVALID``; ``extra["size"]`` gives the route the ``Content-Range: bytes */<size>`` to send."""
    return InvalidArgumentError(
        f"range not satisfiable for {size} bytes",
        code=RANGE_NOT_SATISFIABLE,
        extra={OCI_CODE: "RANGE_INVALID", "size": size},
    )


_SPEC = re.compile(r"\s*(\d*)\s*-\s*(\d*)\s*")


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one byte range a ``Range`` header asks for, or ``None`` to send the whole blob.

    Follows RFC 9110 section 14 for a single range (``a-b``, ``a-``, suffix ``-n``; an end past the blob is
    cut to it). A unit other than ``bytes`` and requests of several ranges are ignored (the whole blob is
    sent, which the RFC allows): registry clients resume with one range. A malformed ``bytes`` range, one that
    starts at or past the end, a zero-length suffix, or any range of an empty blob are 416 ``RANGE_INVALID``.
    """
    if header is None:
        return None
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    if "," in spec:
        return None
    match = _SPEC.fullmatch(spec)
    if match is None or size <= 0:
        raise _unsatisfiable(size)
    first, last = match.group(1), match.group(2)
    if not first:
        if not last or int(last) == 0:
            raise _unsatisfiable(size)
        return ByteRange(max(0, size - int(last)), size, size)
    start = int(first)
    end = size if not last else int(last) + 1
    if start >= size or end <= start:
        raise _unsatisfiable(size)
    return ByteRange(start, min(end, size), size)

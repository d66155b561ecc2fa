"""Resource IDs and identifier slugs (pure).

IDs are 24 lowercase hex characters in the ObjectId style: 4 bytes of big-endian seconds since the epoch, then
8 random bytes. Random bits make them unguessable across hubs; the time prefix keeps them roughly sortable.
"""

from __future__ import annotations

import re
import secrets
import time

__all__ = ["ID_PATTERN", "SLUG_PATTERN", "id_time", "is_id", "is_slug", "new_id", "slugify"]

ID_PATTERN = r"^[0-9a-f]{24}$"
SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
_ID_RE = re.compile(ID_PATTERN)
_SLUG_RE = re.compile(SLUG_PATTERN)
_NON_SLUG = re.compile(r"[^a-z0-9]+")


def new_id(now: float | None = None) -> str:
    """A fresh ID. ``now`` (epoch seconds) is only for tests."""
    seconds = int(time.time() if now is None else now) & 0xFFFFFFFF
    return seconds.to_bytes(4, "big").hex() + secrets.token_bytes(8).hex()


def is_id(value: str) -> bool:
    """True if ``value`` has the shape of an ID (it may still name nothing)."""
    return bool(_ID_RE.match(value))


def id_time(value: str) -> int:
    """The epoch seconds encoded in an ID."""
    return int(value[:8], 16)


def slugify(name: str) -> str:
    """Derive an identifier from a name: lowercase, every run outside ``[a-z0-9]`` becomes one ``-``, leading and
    trailing ``-`` trimmed (``"My Redis 7!"`` → ``"my-redis-7"``). May return ``""`` for a name with no letters
    or digits; callers decide what to do then."""
    return _NON_SLUG.sub("-", name.lower()).strip("-")


def is_slug(value: str) -> bool:
    """True if ``value`` is already a valid identifier slug."""
    return bool(_SLUG_RE.match(value))

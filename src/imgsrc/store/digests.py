"""Validation of the names the store accepts: blob digests and temporary-file keys.

The store only ever builds paths from values that passed these checks, so no caller-supplied string can reach
outside ``root`` (no ``/``, no ``..``, no NUL) and every blob name is the canonical lowercase hex of a sha256.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Final, TypeAlias

from imgsrc.errors import InvalidArgumentError

if TYPE_CHECKING:
    from imgsrc.reference import Digest

DigestLike: TypeAlias = "str | Digest"
"""What the store accepts as a digest: ``"sha256:<hex>"`` or an ``imgsrc.reference.Digest``."""

__all__ = ["ALGORITHM", "DigestLike", "check_temp_key", "digest_hex", "format_digest", "is_blob_name", "sha256_digest"]

ALGORITHM: Final = "sha256"

_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")
_HEX = re.compile(r"[0-9a-f]{64}")
_TEMP_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def digest_hex(digest: DigestLike) -> str:
    """The 64 lowercase hex characters of a ``sha256:<hex>`` digest.

    Accepts a ``str`` or a ``Digest`` of ``imgsrc.reference`` (by its ``str()``, so this module does not
    import it at run time). Anything else — another algorithm,
    uppercase hex, a wrong length, surrounding whitespace — is refused with :class:`InvalidArgumentError`:
    the store is content-addressed by sha256 only, and a lenient parse would let two spellings name one blob.
    """
    text = digest if isinstance(digest, str) else str(digest)
    match = _DIGEST.fullmatch(text)
    if match is None:
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise InvalidArgumentError(f"not a sha256 digest (expected 'sha256:<64 lowercase hex>'): {shown!r}")
    return match.group(1)


def is_blob_name(name: str) -> bool:
    """Whether a file name under ``blobs/sha256`` is a blob (anything else there is foreign and ignored)."""
    return _HEX.fullmatch(name) is not None


def format_digest(hex_: str) -> str:
    """``sha256:<hex>`` for a hex string that is already known to be valid."""
    return f"{ALGORITHM}:{hex_}"


def sha256_digest(data: bytes) -> str:
    """The digest of ``data``."""
    return format_digest(hashlib.sha256(data).hexdigest())


def check_temp_key(key: str) -> str:
    """Return ``key`` if it is a safe single file name for ``root/tmp`` (letters, digits, ``._-``; not
    starting with a dot or dash; at most 200 characters), else raise :class:`InvalidArgumentError`."""
    if not isinstance(key, str) or _TEMP_KEY.fullmatch(key) is None:
        raise InvalidArgumentError(f"invalid temporary file key: {key!r}")
    return key

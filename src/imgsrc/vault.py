"""Encryption of secrets at rest.

Secrets (registry tokens, passwords, private keys…) are sealed with Fernet (AES-128-CBC + HMAC-SHA256, from the
``cryptography`` package) before they reach the database, so a copy of the database file alone reveals nothing.
The key comes from ``IMGSRC_SECRET_KEY`` (any string; a Fernet key is derived from it with SHA-256) or from
``<data_dir>/secret.key``, generated with mode 0600 on first start. Keep that file with backups of the database:
without it the stored secrets cannot be recovered.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from imgsrc.errors import UnknownError

__all__ = ["Vault"]


class Vault:
    """Seals and opens small JSON documents of secrets."""

    def __init__(self, key_material: bytes) -> None:
        self._material = key_material
        derived = hashlib.sha256(key_material).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def __repr__(self) -> str:
        return "Vault(<key hidden>)"

    def derive(self, label: bytes) -> bytes:
        """A 32-byte key for another purpose (``label`` names it), derived from the same secret material with
        HMAC-SHA256: servers sharing the secret share every derived key, and no derived key reveals another."""
        return hmac.new(self._material, label, hashlib.sha256).digest()

    @classmethod
    def from_settings(cls, secret_key: str | None, data_dir: Path) -> Vault:
        """The vault for a configured key, or for the key file in the data directory (created if absent)."""
        if secret_key:
            return cls(secret_key.encode())
        return cls(_load_or_create_key(data_dir / "secret.key"))

    def seal(self, secrets: dict[str, str]) -> str | None:
        """Encrypt a pointer → secret map; ``None`` when there is nothing to keep."""
        if not secrets:
            return None
        return self._fernet.encrypt(json.dumps(secrets, sort_keys=True).encode()).decode("ascii")

    def open(self, sealed: str | None) -> dict[str, str]:
        """Decrypt what :meth:`seal` produced. A token sealed with another key is an error (never a silent
        empty map: that would look like "no credentials" and fail later in a confusing way)."""
        if not sealed:
            return {}
        try:
            data = json.loads(self._fernet.decrypt(sealed.encode("ascii")))
        except (InvalidToken, ValueError) as exc:
            raise UnknownError(
                "stored secrets cannot be decrypted: the secret key differs from the one they were sealed with"
            ) from exc
        if not isinstance(data, dict):
            raise UnknownError("stored secrets are malformed")
        return {str(k): str(v) for k, v in data.items()}


def _load_or_create_key(path: Path) -> bytes:
    """Read the key file, or create it atomically (write a private temp file, then hard-link it into place, so
    two processes starting together agree on one key and nobody ever reads a half-written file)."""
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(base64.urlsafe_b64encode(os.urandom(32)) + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(temp, path)
    except FileExistsError:
        pass  # another process won the race: use its key
    finally:
        temp.unlink()
    return path.read_bytes().strip()

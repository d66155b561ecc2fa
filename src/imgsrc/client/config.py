"""Where a client connects and with which credentials: explicit values, then ``IMGSRC_*`` environment variables,
then the server's bootstrap file.

The API key is held in a field that no ``repr`` shows, and it is never formatted into a message.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from imgsrc.client.errors import ConfigurationError

__all__ = ["DEFAULT_URL", "BootstrapFile", "Connection", "display_url", "read_bootstrap"]

DEFAULT_URL = "http://127.0.0.1:8080"
BOOTSTRAP_NAME = "bootstrap.json"


@dataclass(frozen=True)
class Connection:
    """A resolved connection: base URL, hub and key. ``api_key`` is excluded from the ``repr``."""

    base_url: str
    hub_id: str | None
    api_key: str | None = field(default=None, repr=False)

    @classmethod
    def resolve(cls, base_url: str | None, api_key: str | None, hub_id: str | None) -> Connection:
        """Explicit values win; missing ones come from ``IMGSRC_URL``, ``IMGSRC_API_KEY`` and ``IMGSRC_HUB_ID``
        (read now, never at import)."""
        url = base_url or os.environ.get("IMGSRC_URL") or DEFAULT_URL
        return cls(
            base_url=_check_url(url),
            hub_id=hub_id or os.environ.get("IMGSRC_HUB_ID") or None,
            api_key=api_key or os.environ.get("IMGSRC_API_KEY") or None,
        )


def _check_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"the server URL must be http(s)://host[:port], not {display_url(url)!r}")
    return url.strip().rstrip("/")


def display_url(url: str) -> str:
    """The URL without any ``user:password@`` part, for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True)
class BootstrapFile:
    """The contents of ``<data-dir>/bootstrap.json``, written by the server on its first start."""

    path: Path
    hub_id: str
    api_key: str = field(repr=False)


def read_bootstrap(path_or_data_dir: str | os.PathLike[str]) -> BootstrapFile:
    """Read a bootstrap file, given its path or the data directory holding it."""
    path = Path(path_or_data_dir).expanduser()
    if path.is_dir():
        path = path / BOOTSTRAP_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"no bootstrap file at {path}") from None
    except PermissionError:
        raise ConfigurationError(f"the bootstrap file {path} is not readable by this user") from None
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read the bootstrap file {path}: {type(exc).__name__}") from None
    hub_id = data.get("hub_id") if isinstance(data, dict) else None
    api_key = data.get("api_key") if isinstance(data, dict) else None
    if not isinstance(hub_id, str) or not isinstance(api_key, str) or not hub_id or not api_key:
        raise ConfigurationError(f"the bootstrap file {path} lacks `hub_id` or `api_key`")
    return BootstrapFile(path=path, hub_id=hub_id, api_key=api_key)

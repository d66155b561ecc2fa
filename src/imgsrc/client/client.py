"""The entry points of the SDK: :class:`Client` and :class:`AsyncClient`.

Each resource is a namespace object built from one module (``sources``, ``images``, ``jobs``, ``hubs``); adding a
resource means one new module and one attribute here.
"""

from __future__ import annotations

import os
from types import TracebackType

import httpx

from imgsrc.client.config import Connection, display_url, read_bootstrap
from imgsrc.client.http import AsyncHttp, SyncHttp
from imgsrc.client.hubs import AsyncHubs, AsyncKeys, AsyncRoles, Hubs, Keys, Roles
from imgsrc.client.images import Images
from imgsrc.client.images_async import AsyncImages
from imgsrc.client.jobs import AsyncJobs, Jobs
from imgsrc.client.sources import AsyncSources, Sources

__all__ = ["AsyncClient", "Client"]

DEFAULT_TIMEOUT = 30.0


def _describe(name: str, connection: Connection) -> str:
    key = "set" if connection.api_key else "unset"
    return f"{name}(base_url={display_url(connection.base_url)!r}, hub_id={connection.hub_id!r}, api_key=<{key}>)"


class Client:
    """A synchronous client of one imgsrc server, acting as one API key of one hub.

    ``base_url``, ``api_key`` and ``hub_id`` default to ``IMGSRC_URL`` (else ``http://127.0.0.1:8080``),
    ``IMGSRC_API_KEY`` and ``IMGSRC_HUB_ID``; :meth:`from_bootstrap` reads the key and hub from the server's
    bootstrap file instead. ``transport`` replaces httpx's network transport (tests, in-process apps).

    Use it as a context manager, or call :meth:`close`. The API key appears in no ``repr`` and no error.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        hub_id: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._connection = Connection.resolve(base_url, api_key, hub_id)
        self._http = SyncHttp(self._connection, timeout=timeout, transport=transport)
        self.sources = Sources(self._http)
        self.images = Images(self._http)
        self.jobs = Jobs(self._http)
        self.hubs = Hubs(self._http)
        self.roles = Roles(self._http)
        self.keys = Keys(self._http)

    @classmethod
    def from_bootstrap(
        cls,
        path_or_data_dir: str | os.PathLike[str],
        base_url: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> Client:
        """A client holding the admin key of ``<data-dir>/bootstrap.json`` (the file, or its directory)."""
        boot = read_bootstrap(path_or_data_dir)
        return cls(base_url, boot.api_key, boot.hub_id, timeout=timeout, transport=transport)

    @property
    def base_url(self) -> str:
        return self._connection.base_url

    @property
    def hub_id(self) -> str | None:
        return self._connection.hub_id

    def close(self) -> None:
        """Close the connections; the client cannot be used afterwards."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return _describe("Client", self._connection)


class AsyncClient:
    """:class:`Client` for asyncio: the same namespaces and methods, awaited; ``async with`` or
    ``await client.close()``."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        hub_id: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._connection = Connection.resolve(base_url, api_key, hub_id)
        self._http = AsyncHttp(self._connection, timeout=timeout, transport=transport)
        self.sources = AsyncSources(self._http)
        self.images = AsyncImages(self._http)
        self.jobs = AsyncJobs(self._http)
        self.hubs = AsyncHubs(self._http)
        self.roles = AsyncRoles(self._http)
        self.keys = AsyncKeys(self._http)

    @classmethod
    def from_bootstrap(
        cls,
        path_or_data_dir: str | os.PathLike[str],
        base_url: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> AsyncClient:
        """See :meth:`Client.from_bootstrap`."""
        boot = read_bootstrap(path_or_data_dir)
        return cls(base_url, boot.api_key, boot.hub_id, timeout=timeout, transport=transport)

    @property
    def base_url(self) -> str:
        return self._connection.base_url

    @property
    def hub_id(self) -> str | None:
        return self._connection.hub_id

    async def close(self) -> None:
        await self._http.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return _describe("AsyncClient", self._connection)

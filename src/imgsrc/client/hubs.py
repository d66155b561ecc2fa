"""``client.hubs``, ``client.roles`` and ``client.keys``: the hub, its roles and its API keys (``/v1/hubs``).

All of these but ``hubs.current()`` need the ``hubs-manage`` capability. A key's ``secret`` is in the answer
that created it and nowhere else: keep it then.
"""

from __future__ import annotations

from collections.abc import Sequence

from imgsrc.client.bodies import body_of, build, segment
from imgsrc.client.http import AsyncHttp, Call, SyncHttp, many, one
from imgsrc.client.query import Page
from imgsrc.hubs.schemas import (
    ApiKey,
    CreateApiKeyRequest,
    CreatedHub,
    CreateHubRequest,
    CreateRoleRequest,
    Hub,
    Role,
)

__all__ = ["AsyncHubs", "AsyncKeys", "AsyncRoles", "HubCalls", "Hubs", "Keys", "Roles"]

HUBS = "/v1/hubs"
ROLES = "/v1/hubs/current/roles"
KEYS = "/v1/hubs/current/api-keys"


class HubCalls:
    """Descriptions of the hub, role and key calls (no I/O)."""

    @staticmethod
    def current() -> Call[Hub]:
        return Call("GET", f"{HUBS}/current", one(Hub))

    @staticmethod
    def create_hub(name: str, identifier: str | None) -> Call[CreatedHub]:
        fields = {"name": name} if identifier is None else {"name": name, "identifier": identifier}
        return Call("POST", HUBS, one(CreatedHub), body=body_of(build(CreateHubRequest, fields)))

    @staticmethod
    def list_roles() -> Call[Page[Role]]:
        return Call("GET", ROLES, many(Role))

    @staticmethod
    def create_role(name: str, identifier: str | None) -> Call[Role]:
        fields = {"name": name} if identifier is None else {"name": name, "identifier": identifier}
        return Call("POST", ROLES, one(Role), body=body_of(build(CreateRoleRequest, fields)))

    @staticmethod
    def list_keys() -> Call[Page[ApiKey]]:
        return Call("GET", KEYS, many(ApiKey))

    @staticmethod
    def create_key(name: str, capabilities: Sequence[str], role_id: str | None) -> Call[ApiKey]:
        fields: dict[str, object] = {"name": name, "capabilities": list(capabilities)}
        if role_id is not None:
            fields["role_id"] = role_id
        return Call("POST", KEYS, one(ApiKey), body=body_of(build(CreateApiKeyRequest, fields)))

    @staticmethod
    def revoke_key(key_id: str) -> Call[ApiKey]:
        return Call("DELETE", f"{KEYS}/{segment(key_id)}", one(ApiKey))


class Hubs:
    """The client's hub, and new hubs."""

    def __init__(self, http: SyncHttp) -> None:
        self._http = http

    def current(self) -> Hub:
        """The hub the client's key belongs to."""
        return self._http.run(HubCalls.current())

    def create(self, name: str, *, identifier: str | None = None) -> CreatedHub:
        """A new hub and its first admin key (``.api_key.secret``, shown only here)."""
        return self._http.run(HubCalls.create_hub(name, identifier))


class Roles:
    """Roles of the client's hub (what ACLs grant privileges to)."""

    def __init__(self, http: SyncHttp) -> None:
        self._http = http

    def list(self) -> Page[Role]:
        return self._http.run(HubCalls.list_roles())

    def create(self, name: str, *, identifier: str | None = None) -> Role:
        return self._http.run(HubCalls.create_role(name, identifier))


class Keys:
    """API keys of the client's hub."""

    def __init__(self, http: SyncHttp) -> None:
        self._http = http

    def list(self) -> Page[ApiKey]:
        """The hub's keys that are not revoked (hints only, never secrets)."""
        return self._http.run(HubCalls.list_keys())

    def create(self, name: str, *, capabilities: Sequence[str], role_id: str | None = None) -> ApiKey:
        """A new key with these capabilities (``["all"]`` for every one); its ``secret`` is in this answer only."""
        return self._http.run(HubCalls.create_key(name, capabilities, role_id))

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key at once; ``NotFoundError`` if the hub has no such live key."""
        return self._http.run(HubCalls.revoke_key(key_id))


class AsyncHubs:
    """:class:`Hubs`, asynchronously."""

    def __init__(self, http: AsyncHttp) -> None:
        self._http = http

    async def current(self) -> Hub:
        return await self._http.run(HubCalls.current())

    async def create(self, name: str, *, identifier: str | None = None) -> CreatedHub:
        return await self._http.run(HubCalls.create_hub(name, identifier))


class AsyncRoles:
    """:class:`Roles`, asynchronously."""

    def __init__(self, http: AsyncHttp) -> None:
        self._http = http

    async def list(self) -> Page[Role]:
        return await self._http.run(HubCalls.list_roles())

    async def create(self, name: str, *, identifier: str | None = None) -> Role:
        return await self._http.run(HubCalls.create_role(name, identifier))


class AsyncKeys:
    """:class:`Keys`, asynchronously."""

    def __init__(self, http: AsyncHttp) -> None:
        self._http = http

    async def list(self) -> Page[ApiKey]:
        return await self._http.run(HubCalls.list_keys())

    async def create(self, name: str, *, capabilities: Sequence[str], role_id: str | None = None) -> ApiKey:
        return await self._http.run(HubCalls.create_key(name, capabilities, role_id))

    async def revoke(self, key_id: str) -> ApiKey:
        return await self._http.run(HubCalls.revoke_key(key_id))

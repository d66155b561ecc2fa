"""Wire models of hubs, roles and API keys (an extension of the Cycle API: ``/v1/hubs``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from imgsrc.ids import SLUG_PATTERN
from imgsrc.wire import Events, WireModel, omitted

__all__ = [
    "CAPABILITIES",
    "ApiKey",
    "Capability",
    "CreateApiKeyRequest",
    "CreateHubRequest",
    "CreateRoleRequest",
    "CreatedHub",
    "Hub",
    "Role",
]

Capability = Literal[
    "images-sources-view",
    "images-sources-manage",
    "images-view",
    "images-manage",
    "images-import",
    "hubs-manage",
]
CAPABILITIES: tuple[str, ...] = (
    "images-sources-view",
    "images-sources-manage",
    "images-view",
    "images-manage",
    "images-import",
    "hubs-manage",
)
Name = Annotated[str, Field(min_length=1, max_length=256)]
Identifier = Annotated[str, Field(min_length=1, max_length=256, pattern=SLUG_PATTERN)]


class Hub(WireModel):
    id: str
    name: str
    identifier: str
    events: Events


class Role(WireModel):
    id: str
    hub_id: str
    name: str
    identifier: str
    events: Events


class ApiKey(WireModel):
    """An API key. ``secret`` is present once, in the answer that created the key; only a hash is stored."""

    id: str
    hub_id: str
    name: str
    hint: str = Field(description="The first characters of the secret, to tell keys apart.")
    capabilities: list[str] = Field(description='Capability names, or ["all"].')
    role_id: str | None = None
    events: Events
    secret: str | None = omitted(repr=False)


class CreatedHub(WireModel):
    hub: Hub
    api_key: ApiKey


class CreateHubRequest(WireModel):
    name: Name
    identifier: Identifier | None = None


class CreateRoleRequest(WireModel):
    name: Name
    identifier: Identifier | None = None


class CreateApiKeyRequest(WireModel):
    name: Name
    capabilities: list[Capability | Literal["all"]] = Field(min_length=1, max_length=16)
    role_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{24}$")

    @field_validator("capabilities")
    @classmethod
    def _normalise(cls, value: list[str]) -> list[str]:
        # "all" already grants every capability: whatever else is listed beside it adds nothing.
        return ["all"] if "all" in value else sorted(set(value))

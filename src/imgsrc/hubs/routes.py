"""HTTP routes of hubs, roles and API keys (``/v1/hubs``, an extension of the Cycle API)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response

from imgsrc.api.deps import CurrentPrincipal, RuntimeDep
from imgsrc.api.responses import ERROR_RESPONSES, Envelope, respond
from imgsrc.hubs import service
from imgsrc.hubs.schemas import ApiKey, CreateApiKeyRequest, CreatedHub, CreateHubRequest, CreateRoleRequest, Hub, Role

__all__ = ["router"]

router = APIRouter(prefix="/v1/hubs", tags=["hubs"], responses=ERROR_RESPONSES)
KeyId = Annotated[str, Path(max_length=64)]


@router.get("/current", summary="The hub of the calling key", response_model=Envelope[Hub])
def current_hub(runtime: RuntimeDep, principal: CurrentPrincipal) -> Response:
    with runtime.db.session() as session:
        hub = service.get_hub(session, principal.hub_id)
    return respond(hub)


@router.post("", status_code=201, summary="Create a hub and its first admin key", response_model=Envelope[CreatedHub])
def create_hub(runtime: RuntimeDep, principal: CurrentPrincipal, body: CreateHubRequest) -> Response:
    principal.require("hubs-manage")
    with runtime.db.session() as session:
        created = service.create_hub(session, body.name, body.identifier)
    return respond(created, status=201)


@router.get("/current/roles", summary="List the hub's roles", response_model=Envelope[list[Role]])
def list_roles(runtime: RuntimeDep, principal: CurrentPrincipal) -> Response:
    principal.require("hubs-manage")
    with runtime.db.session() as session:
        roles = service.list_roles(session, principal.hub_id)
    return respond(roles)


@router.post("/current/roles", status_code=201, summary="Create a role", response_model=Envelope[Role])
def create_role(runtime: RuntimeDep, principal: CurrentPrincipal, body: CreateRoleRequest) -> Response:
    principal.require("hubs-manage")
    with runtime.db.session() as session:
        role = service.create_role(session, principal.hub_id, body.name, body.identifier)
    return respond(role, status=201)


@router.get("/current/api-keys", summary="List the hub's API keys", response_model=Envelope[list[ApiKey]])
def list_keys(runtime: RuntimeDep, principal: CurrentPrincipal) -> Response:
    principal.require("hubs-manage")
    with runtime.db.session() as session:
        keys = service.list_api_keys(session, principal.hub_id)
    return respond(keys)


@router.post(
    "/current/api-keys",
    status_code=201,
    summary="Create an API key (its secret is in this answer only)",
    response_model=Envelope[ApiKey],
)
def create_key(runtime: RuntimeDep, principal: CurrentPrincipal, body: CreateApiKeyRequest) -> Response:
    principal.require("hubs-manage")
    with runtime.db.session() as session:
        key = service.create_api_key(
            session, principal.hub_id, name=body.name, capabilities=list(body.capabilities), role_id=body.role_id
        )
    return respond(key, status=201)


@router.delete("/current/api-keys/{key_id}", summary="Revoke an API key", response_model=Envelope[ApiKey])
def revoke_key(runtime: RuntimeDep, principal: CurrentPrincipal, key_id: KeyId) -> Response:
    principal.require("hubs-manage")
    with runtime.db.session() as session:
        key = service.revoke_api_key(session, principal.hub_id, key_id)
    return respond(key)

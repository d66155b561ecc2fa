"""Dependencies of the routers: the runtime, the calling principal, list queries."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any

from fastapi import Depends, Header, Request

from imgsrc.errors import AuthInvalidError, WrongHubError
from imgsrc.hubs.access import Principal
from imgsrc.hubs.service import authenticate
from imgsrc.listing import ListQuery, parse_list_query
from imgsrc.runtime import Runtime

__all__ = ["CurrentPrincipal", "RuntimeDep", "list_query", "list_query_doc", "principal_of"]


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def principal_of(runtime: Runtime, authorization: str | None, hub_id: str | None) -> Principal:
    """Authenticate ``Authorization: Bearer <key>`` and check the hub it is used for."""
    if not authorization:
        raise AuthInvalidError("missing API key: send `Authorization: Bearer <key>`")
    scheme, _, secret = authorization.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise AuthInvalidError("the Authorization header must be `Bearer <key>`")
    with runtime.db.session() as session:
        principal = authenticate(session, secret.strip())
    if not hub_id:
        raise WrongHubError("missing hub: send the `X-Hub-Id` header")
    if hub_id.strip() != principal.hub_id:
        raise WrongHubError("this API key does not belong to that hub")
    return principal


def get_principal(
    request: Request,
    runtime: RuntimeDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    x_hub_id: Annotated[str | None, Header(alias="X-Hub-Id", description="The hub the call is for.")] = None,
) -> Principal:
    hub = x_hub_id or request.query_params.get("hub-id")
    return principal_of(runtime, authorization, hub)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def list_query(
    filters: Mapping[str, bool], sort_keys: Iterable[str], includes: Iterable[str] = (), metas: Iterable[str] = ()
) -> Callable[[Request], ListQuery]:
    """A dependency parsing the raw query string (repeated keys and encoded brackets included)."""
    sort_keys, includes, metas = list(sort_keys), list(includes), list(metas)

    def dependency(request: Request) -> ListQuery:
        return parse_list_query(
            request.query_params.multi_items(), filters=filters, sort_keys=sort_keys, includes=includes, metas=metas
        )

    return dependency


def list_query_doc(
    filters: Mapping[str, bool], sort_keys: Iterable[str], includes: Iterable[str] = (), metas: Iterable[str] = ()
) -> dict[str, Any]:
    """OpenAPI parameters describing a list query (the parsing itself is :func:`list_query`)."""
    params: list[dict[str, Any]] = [
        {
            "name": f"filter[{name}]",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "maxLength": 1024},
            "description": "Comma-separated values." if multi else "",
        }
        for name, multi in filters.items()
    ]
    params += [
        {
            "name": "sort",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": f"Comma-separated keys, `-` for descending: {', '.join(sort_keys)}.",
        },
        {"name": "page[number]", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
        {
            "name": "page[size]",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
        },
    ]
    includes, metas = list(includes), list(metas)
    if includes:
        params.append(
            {
                "name": "include",
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
                "description": f"Comma-separated: {', '.join(includes)}.",
            }
        )
    if metas:
        params.append(
            {
                "name": "meta",
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
                "description": f"Comma-separated: {', '.join(metas)}.",
            }
        )
    return {"parameters": params}

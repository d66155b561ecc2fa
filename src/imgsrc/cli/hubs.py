"""``imgsrc hubs``, ``imgsrc roles`` and ``imgsrc keys``: the hub, its roles and its API keys."""

from __future__ import annotations

from typing import Annotated

import typer

from imgsrc.cli import render
from imgsrc.cli.choices import CapabilityChoice, values
from imgsrc.cli.connect import ApiKeyOption, DataDirOption, HubOption, JsonOption, UrlOption, open_client

__all__ = ["CapabilityOption", "hubs_app", "keys_app", "roles_app"]

hubs_app = typer.Typer(name="hubs", help="The hub of your key, and new hubs.", no_args_is_help=True)
roles_app = typer.Typer(name="roles", help="Roles of the hub (what source ACLs grant to).", no_args_is_help=True)
keys_app = typer.Typer(name="keys", help="API keys of the hub.", no_args_is_help=True)

IdentifierOption = Annotated[str | None, typer.Option("--identifier", help="Slug (default: derived from the name).")]
CapabilityOption = Annotated[
    list[CapabilityChoice],
    typer.Option(
        "--capability",
        "-c",
        help="A capability of the key (repeatable); `all` grants every one and ignores ACLs.",
    ),
]


@hubs_app.command("current")
def current_hub(
    *,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    hub: HubOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
) -> None:
    """Show the hub your key belongs to (a quick check that the connection works)."""
    with open_client(url, api_key, hub, data_dir) as client:
        found = client.hubs.current()
    render.emit(found) if json_out else render.show_hub(found)


@hubs_app.command("create")
def create_hub(
    *,
    name: Annotated[str, typer.Argument(help="Name of the new hub.")],
    identifier: IdentifierOption = None,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    hub: HubOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
) -> None:
    """Create a hub and its first admin key (needs `hubs-manage`). The key's secret is printed once."""
    with open_client(url, api_key, hub, data_dir) as client:
        created = client.hubs.create(name, identifier=identifier)
    render.emit(created) if json_out else render.show_created_hub(created)


@roles_app.command("list")
def list_roles(
    *,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    hub: HubOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
) -> None:
    """List the hub's roles."""
    with open_client(url, api_key, hub, data_dir) as client:
        roles = client.roles.list()
    render.emit(list(roles)) if json_out else render.show_roles(roles)


@roles_app.command("create")
def create_role(
    *,
    name: Annotated[str, typer.Argument(help="Name of the role.")],
    identifier: IdentifierOption = None,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    hub: HubOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
) -> None:
    """Create a role; give it to keys (`imgsrc keys create --role`) and name it in source ACLs."""
    with open_client(url, api_key, hub, data_dir) as client:
        role = client.roles.create(name, identifier=identifier)
    render.emit(role) if json_out else render.show_roles([role])


@keys_app.command("list")
def list_keys(
    *,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    hub: HubOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
) -> None:
    """List the hub's keys that are not revoked (their hints; secrets are never stored)."""
    with open_client(url, api_key, hub, data_dir) as client:
        keys = client.keys.list()
    render.emit(list(keys)) if json_out else render.show_keys(keys)


@keys_app.command("create", no_args_is_help=True)
def create_key(
    *,
    name: Annotated[str, typer.Option("--name", help="What the key is for.")],
    capability: CapabilityOption,
    role: Annotated[str | None, typer.Option("--role", help="ID of a role the key acts as (for ACLs).")] = None,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    hub: HubOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
) -> None:
    """Create an API key. Its secret is printed once, now: store it."""
    with open_client(url, api_key, hub, data_dir) as client:
        key = client.keys.create(name, capabilities=values(capability) or [], role_id=role)
    render.emit(key) if json_out else render.show_key(key)


@keys_app.command("revoke")
def revoke_key(
    *,
    key_id: Annotated[str, typer.Argument(metavar="KEY_ID", help="The key's ID (see `imgsrc keys list`).")],
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    hub: HubOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
) -> None:
    """Revoke an API key at once."""
    with open_client(url, api_key, hub, data_dir) as client:
        key = client.keys.revoke(key_id)
    render.emit(key) if json_out else render.console().print(f"revoked key {key.id} ({key.name})", markup=False)

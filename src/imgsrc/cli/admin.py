"""``imgsrc admin``: offline maintenance that works on the data directory and database directly, with no server
and no API key: the way back in when every key is lost."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from imgsrc.cli import render
from imgsrc.cli.choices import CapabilityChoice, values
from imgsrc.cli.connect import JsonOption
from imgsrc.cli.failures import usage_error
from imgsrc.cli.hubs import CapabilityOption
from imgsrc.cli.server import build_settings

__all__ = ["app"]

app = typer.Typer(
    name="admin",
    help="Offline maintenance on the server's data directory (run it on the server's machine, as its user).",
    no_args_is_help=True,
)


@app.command("create-key", no_args_is_help=True)
def create_key(
    name: Annotated[str, typer.Option("--name", help="What the key is for.")],
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", envvar="IMGSRC_DATA_DIR", show_envvar=True, help="The server's data directory."),
    ] = None,
    capability: CapabilityOption = [CapabilityChoice.all],  # noqa: B006 - typer reads the default, never mutated
    hub: Annotated[
        str | None, typer.Option("--hub", help="ID of the hub (needed only when the database holds several).")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Create an API key directly in the database (for when the bootstrap key is lost). The secret is printed
    once. The database is the one the server uses: `<data-dir>/imgsrc.db`, or IMGSRC_DATABASE_URL."""
    settings = build_settings(data_dir=data_dir)
    if settings.database_url is None and not (settings.data_dir / "imgsrc.db").exists():
        raise usage_error(f"no database in {settings.data_dir}: is --data-dir the server's data directory?")
    from sqlalchemy import select

    from imgsrc.errors import MissingArgumentError, NotFoundError
    from imgsrc.hubs.models import HubRow
    from imgsrc.hubs.schemas import CreateApiKeyRequest
    from imgsrc.hubs.service import create_api_key
    from imgsrc.runtime import Runtime

    request = CreateApiKeyRequest.model_validate({"name": name, "capabilities": values(capability)})
    runtime = Runtime.build(settings)
    try:
        with runtime.db.session() as session:
            hub_ids = list(session.scalars(select(HubRow.id).order_by(HubRow.created_at)))
            if hub is not None and hub not in hub_ids:
                raise NotFoundError(f"no hub {hub} in this database", code="404.hub")
            if hub is None and len(hub_ids) != 1:
                known = ", ".join(hub_ids) or "none yet: start the server once"
                raise MissingArgumentError(f"choose the hub with --hub (hubs: {known})")
            key = create_api_key(
                session, hub or hub_ids[0], name=request.name, capabilities=list(request.capabilities), role_id=None
            )
    finally:
        runtime.close()
    render.emit(key) if json_out else render.show_key(key)

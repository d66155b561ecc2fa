"""Connection options shared by every client command, and how they become a :class:`~imgsrc.client.Client`.

Each value comes from its flag, else its environment variable; the key and hub, if still missing, come from the
server's bootstrap file (``<data-dir>/bootstrap.json``), so on the server's own machine no setup is needed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from imgsrc.client import Client
from imgsrc.client.config import BOOTSTRAP_NAME, read_bootstrap
from imgsrc.client.errors import ConfigurationError
from imgsrc.settings import default_data_dir

__all__ = ["ApiKeyOption", "DataDirOption", "HubOption", "JsonOption", "UrlOption", "open_client"]

PANEL = "Connection"

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="IMGSRC_URL",
        show_envvar=True,
        help="Base URL of the server (default: http://127.0.0.1:8080).",
        rich_help_panel=PANEL,
    ),
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="IMGSRC_API_KEY",
        show_envvar=True,
        help="API key. Prefer the environment variable: other local users can read command lines. "
        "Default: the bootstrap file's key.",
        rich_help_panel=PANEL,
    ),
]
HubOption = Annotated[
    str | None,
    typer.Option(
        "--hub",
        envvar="IMGSRC_HUB_ID",
        show_envvar=True,
        help="ID of the hub the key belongs to. Default: the bootstrap file's hub.",
        rich_help_panel=PANEL,
    ),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="IMGSRC_DATA_DIR",
        show_envvar=True,
        help="The server's data directory, whose bootstrap.json supplies the key and hub when none is given "
        "(default: ~/.local/share/imgsrc).",
        rich_help_panel=PANEL,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the answer's `data` as JSON instead of a table.", rich_help_panel="Output")
]


def open_client(url: str | None, api_key: str | None, hub: str | None, data_dir: Path | None) -> Client:
    """A client from the flags (or their environment variables), completed from the bootstrap file."""
    if not api_key or not hub:
        path = (data_dir or default_data_dir()).expanduser() / BOOTSTRAP_NAME
        if os.path.exists(path):
            boot = read_bootstrap(path)
            api_key, hub = api_key or boot.api_key, hub or boot.hub_id
        elif not api_key:
            raise ConfigurationError(
                f"no API key: pass --api-key or set IMGSRC_API_KEY (no bootstrap file at {path}; "
                "on the server's machine, point --data-dir at its data directory)"
            )
        else:
            raise ConfigurationError(f"no hub: pass --hub or set IMGSRC_HUB_ID (no bootstrap file at {path})")
    return Client(url, api_key, hub)

"""The ``imgsrc`` command: the root group, its subcommands, and the console-script entry point."""

from __future__ import annotations

from typing import Annotated

import typer

from imgsrc import __version__
from imgsrc.cli import admin, hubs, images, importing, jobs, server, sources
from imgsrc.cli.failures import EXIT_CODES_HELP, CliGroup

__all__ = ["app", "main"]

app = typer.Typer(
    name="imgsrc",
    cls=CliGroup,
    help="imgsrc: a self-hosted image factory. Run the server (`serve`, `worker`), import and upload images "
    "(`import`, `upload`), and manage image sources, images, jobs, hubs, roles and API keys from the command line.\n\n"
    "Client commands find the server with --url / IMGSRC_URL and authenticate with --api-key / IMGSRC_API_KEY and "
    "--hub / IMGSRC_HUB_ID; on the server's machine they fall back to the bootstrap file in --data-dir / "
    "IMGSRC_DATA_DIR, so nothing needs setting up. Add --json for machine-readable output.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,  # locals may hold API keys
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"imgsrc {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Only carries --version: the group's help is the ``Typer(help=...)`` above."""


app.command("serve", rich_help_panel="Server")(server.serve)
app.command("worker", rich_help_panel="Server")(server.worker)
app.command("import", rich_help_panel="Images")(importing.import_source)
app.command("upload", rich_help_panel="Images")(importing.upload_source)
app.add_typer(sources.app, rich_help_panel="Resources")
app.add_typer(images.app, rich_help_panel="Resources")
app.add_typer(jobs.app, rich_help_panel="Resources")
app.add_typer(hubs.hubs_app, rich_help_panel="Resources")
app.add_typer(hubs.roles_app, rich_help_panel="Resources")
app.add_typer(hubs.keys_app, rich_help_panel="Resources")
app.add_typer(admin.app, rich_help_panel="Server")


def main() -> None:
    """Entry point of the ``imgsrc`` console script."""
    app()


if __name__ == "__main__":
    main()

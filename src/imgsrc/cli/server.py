"""``imgsrc serve`` and ``imgsrc worker``: the long-running processes.

Settings come from ``IMGSRC_*`` environment variables; the flags given override them. The server stack
(uvicorn, the app, the database) is imported only when one of these commands runs, so client commands start fast.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError

from imgsrc.cli.failures import usage_error
from imgsrc.cli.logs import configure_logging

if TYPE_CHECKING:
    from imgsrc.settings import Settings

__all__ = ["build_settings", "serve", "worker"]

log = logging.getLogger("imgsrc.cli")

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="State directory: database, blobs, keys (env IMGSRC_DATA_DIR; default ~/.local/share/imgsrc).",
    ),
]


def build_settings(**flags: Any) -> Settings:
    """Settings from the environment, with the flags that were given (not ``None``) taking precedence."""
    from imgsrc.settings import Settings

    given = {name: value for name, value in flags.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        # Location and rule only: a value (a database URL with its password) must not be echoed.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False, include_context=False)
        )
        raise usage_error(f"invalid settings: {problems}") from None


def _logging(settings: Settings) -> None:
    try:
        configure_logging(settings.log_level)
    except ValueError as exc:
        raise usage_error(str(exc)) from None


def _client_hint(settings: Settings) -> str:
    """The client command that works on this machine against this server, flags only where not the default."""
    from imgsrc.settings import default_data_dir

    parts = ["imgsrc hubs current"]
    if settings.host != "127.0.0.1" or settings.port != 8080:
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # noqa: S104 - comparing
        host = f"[{host}]" if ":" in host else host
        parts.append(f"--url http://{host}:{settings.port}")
    if settings.data_dir.expanduser().resolve() != default_data_dir().expanduser().resolve():
        parts.append(f"--data-dir {settings.data_dir.expanduser().resolve()}")
    return " ".join(parts)


def _announcer(settings: Settings) -> Callable[[str], None]:
    def announce(path: str) -> None:
        typer.echo(
            f"First start: the admin API key of the default hub is in {Path(path).resolve()} "
            "(mode 0600; the key is not printed).",
            err=True,
        )
        typer.echo(
            f"Client commands on this machine read it by themselves, e.g. `{_client_hint(settings)}`; elsewhere set "
            "IMGSRC_API_KEY and IMGSRC_HUB_ID to its `api_key` and `hub_id`.",
            err=True,
        )

    return announce


def serve(
    host: Annotated[
        str | None, typer.Option("--host", help="Address to listen on (env IMGSRC_HOST; default 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", min=0, max=65535, help="Port (env IMGSRC_PORT; default 8080).")
    ] = None,
    data_dir: DataDirOption = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=0,
            help="In-process job worker threads (env IMGSRC_WORKERS; default 2); 0 when `imgsrc worker` runs the jobs.",
        ),
    ] = None,
) -> None:
    """Run the HTTP server (the API and the job workers).

    On a fresh data directory it creates the default hub and writes its admin key to `<data-dir>/bootstrap.json`
    (mode 0600), printing the file's path (never the key). Stop with Ctrl-C or SIGTERM.
    """
    settings = build_settings(host=host, port=port, data_dir=data_dir, workers=workers)
    _logging(settings)
    import uvicorn

    from imgsrc.api.app import create_app

    app = create_app(settings, on_bootstrap=_announcer(settings))
    log.info(
        "serving on %s:%d, data in %s, %d worker thread(s)",
        settings.host,
        settings.port,
        settings.data_dir,
        settings.workers,
    )
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # our handler (configure_logging) formats and redacts uvicorn's records too
        server_header=False,
        lifespan="on",
    )


def worker(
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="Job threads (default: IMGSRC_WORKERS, at least 1).")
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Run jobs in a dedicated process, next to servers started with `--workers 0`.

    Meant for `IMGSRC_QUEUE_URL=redis://…` deployments (several workers, several machines); with the embedded
    queue it must share the server's data directory. Stop with Ctrl-C or SIGTERM: running jobs are released for
    another worker.
    """
    settings = build_settings(data_dir=data_dir)
    _logging(settings)
    from imgsrc.runtime import Runtime
    from imgsrc.worker.handlers import build_handlers
    from imgsrc.worker.process import Workers

    count = threads or max(settings.workers, 1)
    runtime = Runtime.build(settings)
    queue = "redis" if settings.queue_url else "embedded"
    log.info("worker %d: %d thread(s) on the %s queue, data in %s", os.getpid(), count, queue, settings.data_dir)
    try:
        Workers(runtime, build_handlers(runtime)).run_forever(count)
    finally:
        runtime.close()

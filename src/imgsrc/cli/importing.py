"""``imgsrc import`` and ``imgsrc upload``: make an image of a source in one go, watching it until it is live; and
the pieces ``imgsrc images create|import`` share with them.

Watching is not owning: Ctrl-C while an import runs stops the watching only (the job goes on, and the command
says how to follow it). A failed import prints the job's error and the end of the build log, and exits 5.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer
from rich.text import Text

from imgsrc.cli import render
from imgsrc.cli.connect import ApiKeyOption, DataDirOption, HubOption, JsonOption, UrlOption, open_client
from imgsrc.cli.failures import ExitCode, message_for, usage_error
from imgsrc.cli.jobs import PollOption, TimeoutOption
from imgsrc.cli.progress import ImportWatch, UploadWatch
from imgsrc.client import Client, Image, ImgsrcError, InvalidArgumentError, JobDescriptor, JobFailedError
from imgsrc.client.jobs import job_id_of

__all__ = [
    "BuildArgOption",
    "ImageNameOption",
    "TargetOverrideOption",
    "TargzOverrideOption",
    "UseDiskOption",
    "create_fields",
    "import_source",
    "show_finished",
    "upload_source",
    "watch_import",
]

LOG_TAIL_LINES = 20
PANEL = "Image"

SourceArgument = Annotated[str, typer.Argument(metavar="SOURCE", help="The source's ID or identifier.")]
ImageNameOption = Annotated[
    str | None, typer.Option("--name", help="Name of the image (default: the source's).", rich_help_panel=PANEL)
]
TargetOverrideOption = Annotated[
    str | None,
    typer.Option(
        "--target",
        help="Import this reference instead of the source's target (registry sources).",
        rich_help_panel=PANEL,
    ),
]
TargzOverrideOption = Annotated[
    str | None,
    typer.Option(
        "--targz-url",
        help="Build from this .tar.gz instead of the source's (docker-file sources).",
        rich_help_panel=PANEL,
    ),
]
BuildArgOption = Annotated[
    list[str] | None,
    typer.Option("--build-arg", metavar="KEY=VALUE", help="A build argument (repeatable).", rich_help_panel=PANEL),
]
UseDiskOption = Annotated[
    bool, typer.Option("--use-disk", help="Build on disk rather than in memory-backed space.", rich_help_panel=PANEL)
]
NoWaitOption = Annotated[
    bool, typer.Option("--no-wait", help="Return once the import is queued (prints the image and job IDs).")
]


def create_fields(
    name: str | None, target: str | None, targz_url: str | None, build_args: list[str] | None, use_disk: bool
) -> dict[str, Any]:
    """Keyword arguments of ``client.images.create`` from the image flags."""
    fields: dict[str, Any] = {"name": name}
    override = {key: value for key, value in (("target", target), ("targz_url", targz_url)) if value is not None}
    if override:
        fields["override"] = override
    if build_args or use_disk:
        args: dict[str, str] = {}
        for item in build_args or []:
            key, equals, value = item.partition("=")
            if not equals or not key:
                raise usage_error(f"expected KEY=VALUE, got {item[:40]!r}", "--build-arg")
            args[key] = value
        fields["build"] = {"args": args, "use_disk": use_disk}
    return fields


def show_finished(client: Client, image: Image, json_out: bool) -> None:
    """The end of a successful import or upload: the image's ID, digest, size and pull reference."""
    if json_out:
        render.emit(image)
    else:
        render.show_live_image(image, client.images.pull_ref(image))


def _print_log_tail(client: Client, image_id: str) -> None:
    try:
        tail = render.log_tail(client.images.build_log(image_id), LOG_TAIL_LINES)
    except ImgsrcError:
        return  # no log (the import failed before starting one) or the server is gone: the error says enough
    if tail:
        err = render.console(stderr=True)
        err.print(Text(f"last lines of the build log of image {image_id}:"))
        err.print(Text(tail))


def watch_import(
    client: Client, image: Image, descriptor: JobDescriptor, *, timeout: float | None, poll: float
) -> Image:
    """Follow a started import with a progress display until the image is live, and return it. Ctrl-C stops the
    watching (exit 130) and leaves the import running; a failed import prints its error and the end of its build
    log (exit 5)."""
    err = render.console(stderr=True)
    job_id = job_id_of(descriptor)
    try:
        with ImportWatch(err, image.id) as watch:
            return client.images.wait_import(image, descriptor, timeout=timeout, poll=poll, on_progress=watch.update)
    except KeyboardInterrupt:
        err.print(
            Text(
                f"stopped watching; the import goes on as job {job_id}. Follow it with "
                f"`imgsrc images log {image.id} --follow` or `imgsrc jobs wait {job_id}`."
            )
        )
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    except JobFailedError as exc:
        typer.echo(message_for(exc), err=True)
        _print_log_tail(client, image.id)
        raise typer.Exit(int(ExitCode.JOB_FAILED)) from None


def _started(image: Image, descriptor: JobDescriptor, json_out: bool) -> None:
    if json_out:
        render.emit(image)
    else:
        job = descriptor.job.id if descriptor.job else render.NONE
        render.console().print(Text(f"image {image.id}: import queued as job {job}"))


def import_source(
    *,
    source: SourceArgument,
    name: ImageNameOption = None,
    target: TargetOverrideOption = None,
    targz_url: TargzOverrideOption = None,
    build_arg: BuildArgOption = None,
    use_disk: UseDiskOption = False,
    no_wait: NoWaitOption = False,
    timeout: TimeoutOption = None,
    poll: PollOption = 2.0,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    hub: HubOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
) -> None:
    """Create an image of SOURCE and import (or build) it, with a progress bar, until it is live.

    Then prints the image's ID, digest, size and pull reference. On failure: the error and the end of the build log,
    exit code 5. Ctrl-C stops watching; the import goes on.

    Example: `imgsrc import redis --target redis:7.2`.
    """
    fields = create_fields(name, target, targz_url, build_arg, use_disk)
    with open_client(url, api_key, hub, data_dir) as client:
        found = client.sources.get(source)
        if found.origin.type == "cycle-upload":
            raise InvalidArgumentError(f"{source} is a cycle-upload source: use `imgsrc upload {source} FILE.tar`")
        if found.origin.type == "none":
            raise InvalidArgumentError(f"{source} has no origin (`none`): there is nothing to import")
        image = client.images.create(found.id, **fields)
        descriptor = client.images.start_import(image)
        if no_wait:
            _started(image, descriptor, json_out)
            return
        live = watch_import(client, image, descriptor, timeout=timeout, poll=poll)
        show_finished(client, live, json_out)


def _file_argument(file: str) -> Path | BinaryIO:
    if file == "-":
        return sys.stdin.buffer
    path = Path(file).expanduser()
    if not path.exists():
        raise usage_error(f"no file at {path}", "FILE")
    if path.is_dir():
        raise usage_error(f"{path} is a directory; give the archive (`docker save`, or an OCI layout tar)", "FILE")
    return path


def upload_source(
    *,
    source: SourceArgument,
    file: Annotated[
        str,
        typer.Argument(
            metavar="FILE.tar",
            help="A `docker save` archive or an OCI image-layout tar, plain or gzip; `-` reads standard input.",
        ),
    ],
    name: ImageNameOption = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout", min=0, help="Seconds to wait for the server's answer once the file is sent. Default: no limit."
        ),
    ] = None,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    hub: HubOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
) -> None:
    """Upload an image archive to a cycle-upload SOURCE, with a progress bar, and print the live image.

    The file is streamed: any size, flat memory. The image is created first; its one-time upload token never leaves
    this command.

    Example: `docker save app:1 | imgsrc upload uploads -`.
    """
    payload = _file_argument(file)
    label = "standard input" if file == "-" else Path(file).name
    with open_client(url, api_key, hub, data_dir) as client:
        found = client.sources.get(source)
        if found.origin.type != "cycle-upload":
            raise InvalidArgumentError(
                f"{source} imports from `{found.origin.type}`, not from uploads: use `imgsrc import {source}`"
            )
        image = client.images.create(found.id, name=name)
        err = render.console(stderr=True)
        try:
            with UploadWatch(err, label) as watch:
                live = client.images.upload(image, payload, on_progress=watch.update, timeout=timeout)
        except KeyboardInterrupt:
            err.print(
                Text(
                    f"upload interrupted: image {image.id} was not uploaded; remove it with "
                    f"`imgsrc images delete {image.id}`"
                )
            )
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        except ImgsrcError:
            err.print(
                Text(
                    f"image {image.id} was not uploaded (its token works once); remove it with "
                    f"`imgsrc images delete {image.id}`"
                )
            )
            raise
        show_finished(client, live, json_out)

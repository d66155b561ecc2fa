"""``imgsrc images``: list, show, create, import, rename, delete and prune images; build logs; pull references."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

import typer
from rich.text import Text

from imgsrc.cli import render
from imgsrc.cli.choices import ImageStateChoice, OriginTypeChoice, values
from imgsrc.cli.connect import ApiKeyOption, DataDirOption, HubOption, JsonOption, UrlOption, open_client
from imgsrc.cli.importing import (
    BuildArgOption,
    ImageNameOption,
    TargetOverrideOption,
    TargzOverrideOption,
    UseDiskOption,
    create_fields,
    show_finished,
    watch_import,
)
from imgsrc.cli.jobs import PollOption, TimeoutOption, follow
from imgsrc.client import Client, Image, ImgsrcError, Job, JobFailedError, NotFoundError
from imgsrc.client.jobs import TRANSIENT

__all__ = ["app"]

app = typer.Typer(
    name="images", help="Images: imports and builds of a source, and what gets pulled.", no_args_is_help=True
)

ImageArgument = Annotated[str, typer.Argument(metavar="IMAGE", help="The image's ID.")]
NoWaitOption = Annotated[bool, typer.Option("--no-wait", help="Return once the job is accepted (prints its ID).")]
UNFINISHED = ("new", "queued", "scheduled", "running")


@app.command("list")
def list_images(
    *,
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Only images of this source ID (repeatable).")
    ] = None,
    identifier: Annotated[
        list[str] | None, typer.Option("--identifier", help="Only images of sources with this identifier.")
    ] = None,
    search: Annotated[str | None, typer.Option("--search", help="Text in the image's or source's name.")] = None,
    state: Annotated[
        list[ImageStateChoice] | None,
        typer.Option("--state", help="Only this state (repeatable); default: not deleted."),
    ] = None,
    source_type: Annotated[
        list[OriginTypeChoice] | None, typer.Option("--source-type", help="Only images from this origin type.")
    ] = None,
    sort: Annotated[
        str | None, typer.Option("--sort", help="Comma-separated keys (id, name, state, size, created, updated).")
    ] = None,
    page: Annotated[int, typer.Option("--page", min=1, help="Page number.")] = 1,
    page_size: Annotated[int, typer.Option("--page-size", min=1, max=100, help="Images per page.")] = 20,
    all_pages: Annotated[bool, typer.Option("--all", help="Every matching image, all pages.")] = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    hub: HubOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
) -> None:
    """List the hub's images, newest first."""
    filters: dict[str, Any] = {
        "source_id": source,
        "identifier": identifier,
        "search": search,
        "state": values(state),
        "source_type": values(source_type),
        "sort": sort,
    }
    with open_client(url, api_key, hub, data_dir) as client:
        if all_pages:
            images: list[Image] = list(client.images.iter(**filters))
            total: int | None = len(images)
        else:
            found = client.images.list(**filters, page=page, page_size=page_size)
            images, total = list(found), found.total
    if json_out:
        render.emit(images)
    else:
        render.show_images(images, total)


@app.command("get")
def get_image(
    *,
    image: ImageArgument,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    hub: HubOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
) -> None:
    """Show one image: state and error, origin, digest, size, runtime config and pull reference."""
    with open_client(url, api_key, hub, data_dir) as client:
        found = client.images.get(image)
        reference = client.images.pull_ref(found) if found.state.current == "live" else None
    render.emit(found) if json_out else render.show_image(found, reference)


@app.command("create", no_args_is_help=True)
def create_image(
    *,
    source: Annotated[str, typer.Argument(metavar="SOURCE", help="The source's ID or identifier.")],
    name: ImageNameOption = None,
    target: TargetOverrideOption = None,
    targz_url: TargzOverrideOption = None,
    build_arg: BuildArgOption = None,
    use_disk: UseDiskOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    hub: HubOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
) -> None:
    """Create an image of SOURCE in state `new`, to import with `imgsrc images import IMAGE`.

    For a cycle-upload source the one-time upload token is printed once. `imgsrc import` and `imgsrc upload` do
    everything in one go."""
    fields = create_fields(name, target, targz_url, build_arg, use_disk)
    with open_client(url, api_key, hub, data_dir) as client:
        created = client.images.create(source, **fields)
    render.emit(created) if json_out else render.show_image(created)


@app.command("import")
def import_image(
    *,
    image: ImageArgument,
    no_wait: NoWaitOption = False,
    timeout: TimeoutOption = None,
    poll: PollOption = 2.0,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    hub: HubOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
) -> None:
    """Import (or build) a `new` image, with a progress bar, until it is live.

    As `imgsrc import`, for an image that exists: a failed import is retried this way."""
    with open_client(url, api_key, hub, data_dir) as client:
        found = client.images.get(image)
        descriptor = client.images.start_import(found)
        if no_wait:
            render.emit(descriptor) if json_out else render.show_descriptor(descriptor)
            return
        live = watch_import(client, found, descriptor, timeout=timeout, poll=poll)
        show_finished(client, live, json_out)


@app.command("rename", no_args_is_help=True)
def rename_image(
    *,
    image: ImageArgument,
    name: Annotated[str, typer.Argument(help="The new name.")],
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    hub: HubOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
) -> None:
    """Rename an image."""
    with open_client(url, api_key, hub, data_dir) as client:
        renamed = client.images.rename(image, name)
    render.emit(renamed) if json_out else render.show_image(renamed)


@app.command("delete")
def delete_image(
    *,
    image: ImageArgument,
    no_wait: NoWaitOption = False,
    timeout: TimeoutOption = None,
    poll: PollOption = 1.0,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    hub: HubOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
) -> None:
    """Delete an image; a running import of it is cancelled.

    Waits for the deletion job unless --no-wait."""
    with open_client(url, api_key, hub, data_dir) as client:
        descriptor = client.images.delete(image)
        if no_wait:
            render.emit(descriptor) if json_out else render.show_descriptor(descriptor)
            return
        job = follow(client, descriptor, timeout=timeout, poll=poll)
    render.emit(job) if json_out else render.console().print(Text(f"deleted image {image} (job {job.id})"))


@app.command("prune", no_args_is_help=True)
def prune_images(
    *,
    sources: Annotated[list[str], typer.Argument(metavar="SOURCE...", help="Source IDs or identifiers.")],
    no_wait: NoWaitOption = False,
    timeout: TimeoutOption = None,
    poll: PollOption = 1.0,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    hub: HubOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
) -> None:
    """Delete old images of these sources: older than 15 minutes, except each source's newest live image.

    Waits for the job unless --no-wait."""
    with open_client(url, api_key, hub, data_dir) as client:
        descriptor = client.images.prune(sources)
        if no_wait:
            render.emit(descriptor) if json_out else render.show_descriptor(descriptor)
            return
        job = follow(client, descriptor, timeout=timeout, poll=poll)
    render.emit(job) if json_out else render.console().print(Text(f"pruned the images of {', '.join(sources)}"))


class _LogPrinter:
    """Prints a build log as it grows: only what was not printed yet (the whole log again if it was rewritten,
    as a retried import does)."""

    def __init__(self, client: Client, image: str) -> None:
        self.client, self.image, self.shown = client, image, ""

    def refresh(self) -> None:
        try:
            text = self.client.images.build_log(self.image).log
        except NotFoundError as exc:
            if exc.code != "404.image.build-log":
                raise
            return  # the import has not written anything yet
        except TRANSIENT:
            return  # the next read will catch up
        new = text[len(self.shown) :] if text.startswith(self.shown) else text
        if new:
            typer.echo(new, nl=False)
            self.shown = text

    def end(self) -> None:
        if self.shown and not self.shown.endswith("\n"):
            typer.echo("")


def _running_job(client: Client, image: str) -> Job | None:
    """The image's unfinished job (import or deletion), if any: the newest whose task names the image."""
    for job in client.jobs.iter(state=list(UNFINISHED)):
        if any(task.input.get("image_id") == image for task in job.tasks):
            return job
    return None


@app.command("log")
def build_log(
    *,
    image: ImageArgument,
    follow_job: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing as the image's running job writes, until it ends.")
    ] = False,
    poll: PollOption = 2.0,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    hub: HubOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
) -> None:
    """Print the build log of an image: the factory's account of its import or build.

    With --follow, keep printing until the image's running job ends (exit 5 if it failed)."""
    with open_client(url, api_key, hub, data_dir) as client:
        if json_out or not follow_job:
            failure: JobFailedError | None = None
            if follow_job and (running := _running_job(client, image)) is not None:
                try:
                    client.jobs.wait(running, poll=poll)
                except JobFailedError as exc:
                    failure = exc  # the log first (it says why), then the error and exit 5
            log = client.images.build_log(image)
            render.emit(log) if json_out else typer.echo(log.log, nl=not log.log.endswith("\n"))
            if failure is not None:
                raise failure
            return
        client.images.get(image)  # an unknown image is a 404 now, not an empty log
        printer = _LogPrinter(client, image)
        running = _running_job(client, image)
        printer.refresh()
        if running is None:
            printer.end()
            return
        try:
            client.jobs.wait(running, poll=poll, on_update=lambda _job: printer.refresh())
        finally:
            with contextlib.suppress(ImgsrcError):
                printer.refresh()
            printer.end()


@app.command("pull-ref")
def pull_ref(
    *,
    image: ImageArgument,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    hub: HubOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
) -> None:
    """Print where registry clients pull the image from: `<server>/<hub>/<source>:<image>`.

    Registry clients log in with any user name and an API key as the password. Example:
    `skopeo copy docker://$(imgsrc images pull-ref IMAGE) oci:app`."""
    with open_client(url, api_key, hub, data_dir) as client:
        found = client.images.get(image)
        reference = client.images.pull_ref(found)
    if json_out:
        render.emit({"image_id": found.id, "reference": reference})
        return
    typer.echo(reference)
    if found.state.current != "live":
        render.console(stderr=True).print(Text(f"note: image {found.id} is {found.state.current}; pullable once live"))

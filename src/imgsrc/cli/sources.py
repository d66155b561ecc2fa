"""``imgsrc sources``: list, show, create, update and delete image sources."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from imgsrc.cli import render
from imgsrc.cli.choices import SourceStateChoice, values
from imgsrc.cli.connect import ApiKeyOption, DataDirOption, HubOption, JsonOption, UrlOption, open_client
from imgsrc.cli.failures import usage_error
from imgsrc.cli.jobs import PollOption, TimeoutOption, follow
from imgsrc.cli.origins import (
    AskPasswordOption,
    AskTokenOption,
    BranchOption,
    BuildFileOption,
    ContextDirOption,
    OriginFlags,
    OriginJsonOption,
    OriginOption,
    PasswordStdinOption,
    RepoUrlOption,
    SecretFlags,
    TargetOption,
    TargzUrlOption,
    TokenStdinOption,
    UrlDetailOption,
    UsernameOption,
    build_origin,
    load_origin_json,
    read_secrets,
)
from imgsrc.client import ImageSource
from imgsrc.sources.schemas import ImageSourceType

__all__ = ["app"]

app = typer.Typer(name="sources", help="Image sources: where images are imported or built from.", no_args_is_help=True)

SourceArgument = Annotated[str, typer.Argument(metavar="SOURCE", help="The source's ID or identifier.")]
NameOption = Annotated[str | None, typer.Option("--name", help="Display name (default: derived from the origin).")]
IdentifierOption = Annotated[
    str | None, typer.Option("--identifier", help="Slug such as `my-redis` (default: derived from the name).")
]
DescriptionOption = Annotated[str | None, typer.Option("--description", help="Free text about the source.")]
ImagesCountOption = Annotated[bool, typer.Option("--images-count", help="Also count the source's images by state.")]


@app.command("list")
def list_sources(
    *,
    search: Annotated[
        str | None, typer.Option("--search", help="Text in the name, identifier, description or target.")
    ] = None,
    identifier: Annotated[
        list[str] | None, typer.Option("--identifier", help="Only this identifier (repeatable).")
    ] = None,
    state: Annotated[
        list[SourceStateChoice] | None,
        typer.Option("--state", help="Only this state (repeatable); default: not deleted."),
    ] = None,
    sort: Annotated[
        str | None, typer.Option("--sort", help="Comma-separated keys, `-` for descending: `name,-id`.")
    ] = None,
    page: Annotated[int, typer.Option("--page", min=1, help="Page number.")] = 1,
    page_size: Annotated[int, typer.Option("--page-size", min=1, max=100, help="Sources per page.")] = 20,
    all_pages: Annotated[bool, typer.Option("--all", help="Every matching source, all pages.")] = False,
    images_count: ImagesCountOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    hub: HubOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
) -> None:
    """List the hub's image sources."""
    meta = "images_count" if images_count else None
    with open_client(url, api_key, hub, data_dir) as client:
        if all_pages:
            found = client.sources.iter(search=search, identifier=identifier, state=values(state), sort=sort, meta=meta)
            sources: list[ImageSource] = list(found)
            total: int | None = len(sources)
        else:
            page_found = client.sources.list(
                search=search,
                identifier=identifier,
                state=values(state),
                sort=sort,
                page=page,
                page_size=page_size,
                meta=meta,
            )
            sources, total = list(page_found), page_found.total
    if json_out:
        render.emit(sources)
    else:
        render.show_sources(sources, total)


@app.command("get")
def get_source(
    *,
    source: SourceArgument,
    images_count: ImagesCountOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    hub: HubOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
) -> None:
    """Show one image source (secrets appear masked)."""
    with open_client(url, api_key, hub, data_dir) as client:
        found = client.sources.get(source, meta="images_count" if images_count else None)
    _show(found, json_out)


def _show(source: ImageSource, json_out: bool) -> None:
    if json_out:
        render.emit(source)
    else:
        render.show_source(source)


@app.command("create", no_args_is_help=True)
def create_source(
    *,
    origin: OriginOption = None,
    name: NameOption = None,
    identifier: IdentifierOption = None,
    source_type: Annotated[ImageSourceType, typer.Option("--type", help="Source type.")] = "direct",
    description: DescriptionOption = None,
    origin_json: OriginJsonOption = None,
    target: TargetOption = None,
    registry_url: UrlDetailOption = None,
    username: UsernameOption = None,
    repo_url: RepoUrlOption = None,
    branch: BranchOption = None,
    targz_url: TargzUrlOption = None,
    context_dir: ContextDirOption = None,
    build_file: BuildFileOption = None,
    token_stdin: TokenStdinOption = False,
    password_stdin: PasswordStdinOption = False,
    ask_token: AskTokenOption = False,
    ask_password: AskPasswordOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    hub: HubOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
) -> None:
    """Create an image source.

    Examples: `imgsrc sources create --origin docker-hub --target redis:7`;
    `echo "$TOKEN" | imgsrc sources create --origin docker-registry --registry-url ghcr.io --target org/app:1
    --username me --token-stdin`; `imgsrc sources create --origin docker-file --repo-url https://git.example/app.git
    --branch main`.
    """
    secrets = read_secrets(
        SecretFlags(token_stdin, password_stdin, ask_token, ask_password), origin_json_from_stdin=origin_json == "-"
    )
    base = load_origin_json(origin_json) if origin_json else None
    flags = OriginFlags(target, registry_url, username, repo_url, branch, targz_url, context_dir, build_file)
    document = build_origin(origin, base, flags, secrets)
    if document is None:
        raise usage_error("say where images come from: --origin (or --origin-json)")
    fields: dict[str, Any] = {"type": source_type, "origin": document}
    for key, value in (("name", name), ("identifier", identifier)):
        if value is not None:
            fields[key] = value
    if description is not None:
        fields["about"] = {"description": description}
    with open_client(url, api_key, hub, data_dir) as client:
        created = client.sources.create(**fields)
    _show(created, json_out)


@app.command("update", no_args_is_help=True)
def update_source(
    *,
    source: SourceArgument,
    name: NameOption = None,
    identifier: IdentifierOption = None,
    description: DescriptionOption = None,
    origin: OriginOption = None,
    origin_json: OriginJsonOption = None,
    target: TargetOption = None,
    registry_url: UrlDetailOption = None,
    username: UsernameOption = None,
    repo_url: RepoUrlOption = None,
    branch: BranchOption = None,
    targz_url: TargzUrlOption = None,
    context_dir: ContextDirOption = None,
    build_file: BuildFileOption = None,
    token_stdin: TokenStdinOption = False,
    password_stdin: PasswordStdinOption = False,
    ask_token: AskTokenOption = False,
    ask_password: AskPasswordOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    hub: HubOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
) -> None:
    """Change a source's name, identifier, description or origin.

    Origin flags change only what they name: `imgsrc sources update redis --target redis:8` keeps the rest of the
    origin, stored secrets included. `--origin` with another type starts a new origin.
    """
    secrets = read_secrets(
        SecretFlags(token_stdin, password_stdin, ask_token, ask_password), origin_json_from_stdin=origin_json == "-"
    )
    flags = OriginFlags(target, registry_url, username, repo_url, branch, targz_url, context_dir, build_file)
    changes_origin = origin is not None or origin_json is not None or bool(flags.given()) or secrets.given
    fields: dict[str, Any] = {}
    for key, value in (("name", name), ("identifier", identifier)):
        if value is not None:
            fields[key] = value
    if description is not None:
        fields["about"] = {"description": description}
    with open_client(url, api_key, hub, data_dir) as client:
        if changes_origin:
            # Start from the current origin: masked secrets sent back as the mask keep their stored values.
            base = (
                load_origin_json(origin_json)
                if origin_json
                else client.sources.get(source).origin.model_dump(mode="json")
            )
            fields["origin"] = build_origin(origin, base, flags, secrets)
        if not fields:
            raise usage_error("nothing to change: give --name, --identifier, --description or origin flags")
        updated = client.sources.update(source, **fields)
    _show(updated, json_out)


@app.command("delete")
def delete_source(
    *,
    source: SourceArgument,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Return once the deletion job is accepted.")] = False,
    timeout: TimeoutOption = None,
    poll: PollOption = 1.0,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    hub: HubOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
) -> None:
    """Delete a source and its images. Waits for the deletion job unless --no-wait (then prints the job to follow
    with `imgsrc jobs wait`)."""
    with open_client(url, api_key, hub, data_dir) as client:
        descriptor = client.sources.delete(source)
        if no_wait:
            render.emit(descriptor) if json_out else render.show_descriptor(descriptor)
            return
        job = follow(client, descriptor, timeout=timeout, poll=poll)
    if json_out:
        render.emit(job)
    else:
        render.console().print(f"deleted {source} (job {job.id})", markup=False)

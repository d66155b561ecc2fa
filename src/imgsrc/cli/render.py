"""Output of the command line: rich tables for people, ``--json`` (the answer's ``data``) for programs.

Every value is printed as plain text, never as rich markup: a source named ``[bold]`` stays ``[bold]``.
Consoles are made per call, so output goes wherever ``sys.stdout`` points at that moment.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from rich.text import Text

from imgsrc.hubs.schemas import ApiKey, CreatedHub, Hub, Role
from imgsrc.images.schemas import BuildLog, Image
from imgsrc.jobs.schemas import Job, JobDescriptor
from imgsrc.secretfields import MASK
from imgsrc.sources.schemas import ImageSource
from imgsrc.wire import Timestamp

__all__ = [
    "console",
    "emit",
    "human_bytes",
    "log_tail",
    "progress_of",
    "show_created_hub",
    "show_descriptor",
    "show_hub",
    "show_image",
    "show_images",
    "show_job",
    "show_jobs",
    "show_key",
    "show_keys",
    "show_live_image",
    "show_roles",
    "show_source",
    "show_sources",
]

NONE = "—"


def console(*, stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def emit(data: Any) -> None:
    """Print ``data`` (a model, or a list of them) as indented JSON on stdout."""
    typer.echo(json.dumps(_plain(data), indent=2, ensure_ascii=False))


def _when(value: Timestamp | None) -> str:
    if value is None or value.is_zero:
        return NONE
    return value.strftime("%Y-%m-%d %H:%M:%S")


def _table(columns: Sequence[str], rows: Iterable[Sequence[str]], title: str | None = None) -> None:
    table = Table(*columns, title=title, title_justify="left", header_style="bold", box=None, pad_edge=False)
    for row in rows:
        table.add_row(*(Text(cell or NONE) for cell in row))
    console().print(table)


def _fields(pairs: Sequence[tuple[str, str]], title: str | None = None) -> None:
    table = Table(show_header=False, box=None, title=title, title_justify="left", pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for name, value in pairs:
        table.add_row(Text(name), Text(value or NONE))
    console().print(table)


def _footer(shown: int, total: int | None) -> None:
    if total is not None and total > shown:
        console(stderr=True).print(Text(f"{shown} of {total} shown; use --page, --page-size or --all"))


# --- image sources -------------------------------------------------------------------------------------------------


def _origin_summary(source: ImageSource) -> str:
    details = source.origin.model_dump(mode="json").get("details") or {}
    where = details.get("target") or details.get("targz_url") or (details.get("repo") or {}).get("url") or ""
    if details.get("url") and source.origin.type in ("docker-registry", "oci-registry"):
        where = f"{details['url']} {where}"
    return f"{source.origin.type} {where}".strip()


def show_sources(sources: Sequence[ImageSource], total: int | None = None) -> None:
    rows = [(s.id, s.identifier, s.name, _origin_summary(s), s.state.current, _when(s.events.created)) for s in sources]
    _table(("ID", "IDENTIFIER", "NAME", "ORIGIN", "STATE", "CREATED"), rows)
    _footer(len(sources), total)


def show_source(source: ImageSource) -> None:
    pairs = [
        ("id", source.id),
        ("identifier", source.identifier),
        ("name", source.name),
        ("type", source.type),
        ("description", source.about.description or "" if source.about else ""),
        ("state", source.state.current + (f" ({source.state.error.message})" if source.state.error else "")),
        ("origin", source.origin.type),
    ]
    details = source.origin.model_dump(mode="json").get("details") or {}
    pairs += [
        (f"  {key}", json.dumps(value) if isinstance(value, dict | list) else str(value))
        for key, value in details.items()
    ]
    if source.acl is not None:
        pairs.append(
            ("acl", ", ".join(f"{role}: {_privileges(e.model_dump())}" for role, e in source.acl.roles.items()))
        )
    if source.meta is not None and source.meta.images_count is not None:
        pairs.append(("images", str(source.meta.images_count.total)))
    pairs += [
        ("created", _when(source.events.created)),
        ("updated", _when(source.events.updated)),
        ("creator", f"{source.creator.type} {source.creator.id}"),
    ]
    _fields(pairs)


def _privileges(entry: dict[str, bool]) -> str:
    return "+".join(name for name, allowed in entry.items() if allowed) or "none"


# --- images --------------------------------------------------------------------------------------------------------


def human_bytes(value: int) -> str:
    """``12.3 MB`` (decimal units, as registries and ``docker images`` show sizes)."""
    size = float(value)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def _short_digest(digest: str) -> str:
    return digest[:19] if digest else ""


def _image_state(image: Image) -> str:
    return image.state.current + (f" ({image.state.error.message})" if image.state.error else "")


def show_images(images: Sequence[Image], total: int | None = None) -> None:
    rows = [
        (
            i.id,
            i.name,
            i.source.details.id if i.source else "",
            i.state.current,
            human_bytes(i.size) if i.size else "",
            _short_digest(i.backend.file_id),
            _when(i.events.created),
            i.state.error.message if i.state.error else "",
        )
        for i in images
    ]
    _table(("ID", "NAME", "SOURCE", "STATE", "SIZE", "DIGEST", "CREATED", "ERROR"), rows)
    _footer(len(images), total)


def show_image(image: Image, pull_ref: str | None = None) -> None:
    """An image in detail. A new upload image's one-time token is printed once, on its own line, after a warning
    that it is not shown again (as a new key's secret)."""
    pairs = [("id", image.id), ("name", image.name), ("state", _image_state(image))]
    token = ""
    if image.source is not None:
        origin = image.source.details.origin.model_dump(mode="json")
        details = origin.get("details") or {}
        where = details.get("target") or details.get("targz_url") or (details.get("repo") or {}).get("url") or ""
        pairs += [("source", image.source.details.id), ("origin", f"{origin['type']} {where}".strip())]
        override = image.source.override.model_dump(mode="json", exclude_none=True) if image.source.override else {}
        pairs += [(f"  override {key}", str(value)) for key, value in override.items()]
        if origin["type"] == "cycle-upload":
            token = str(details.get("token") or "")
            pairs.append(("upload expires", str(details.get("expires") or "")))
    if image.build is not None:
        pairs.append(("build args", " ".join(f"{k}={v}" for k, v in image.build.args.items())))
        pairs.append(("build on disk", "yes" if image.build.use_disk else "no"))
    if image.backend.file_id:
        pairs += [
            ("digest", image.backend.file_id),
            ("size", f"{human_bytes(image.size)} ({image.size} bytes)"),
            ("stored in", image.backend.provider),
        ]
        config = image.config
        pairs += [
            ("  entrypoint", json.dumps(config.entrypoint) if config.entrypoint else ""),
            ("  command", json.dumps(config.command) if config.command else ""),
            ("  ports", ", ".join(f"{p.container}/{p.type}" for p in config.ports)),
            ("  user", config.user),
            ("  workdir", config.workdir),
        ]
    if pull_ref:
        pairs.append(("pull", pull_ref))
    pairs += [
        ("created", _when(image.events.created)),
        ("updated", _when(image.events.updated)),
        ("creator", f"{image.creator.type} {image.creator.id}"),
    ]
    _fields(pairs)
    if token and token != MASK:
        console(stderr=True).print(Text("The upload token below is shown only now (it works once, until it expires):"))
        typer.echo(token)


def show_live_image(image: Image, pull_ref: str) -> None:
    """What an import or upload ends with: the image, its digest, its size and where to pull it."""
    _fields(
        [
            ("image", image.id),
            ("name", image.name),
            ("state", image.state.current),
            ("digest", image.backend.file_id),
            ("size", f"{human_bytes(image.size)} ({image.size} bytes)"),
            ("pull", pull_ref),
        ]
    )


def log_tail(log: BuildLog | str, lines: int) -> str:
    """The last ``lines`` lines of a build log."""
    text = log.log if isinstance(log, BuildLog) else log
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


# --- jobs ----------------------------------------------------------------------------------------------------------


def _job_error(job: Job) -> str:
    return job.state.error.message if job.state.error else ""


def show_jobs(jobs: Sequence[Job], total: int | None = None) -> None:
    rows = [
        (j.id, j.caption, j.state.current, _when(j.events.queued), _when(j.events.completed), _job_error(j))
        for j in jobs
    ]
    _table(("ID", "CAPTION", "STATE", "QUEUED", "COMPLETED", "ERROR"), rows)
    _footer(len(jobs), total)


def show_job(job: Job) -> None:
    pairs = [
        ("id", job.id),
        ("caption", job.caption),
        ("state", job.state.current),
        ("error", _job_error(job)),
        ("queued", _when(job.events.queued)),
        ("started", _when(job.events.started)),
        ("completed", _when(job.events.completed)),
    ]
    for task in job.tasks:
        for step in task.steps or []:
            when = "running" if step.completed.is_zero else _when(step.completed)
            pairs.append((f"  step: {step.caption}", f"{step.description} ({when})"))
    done = progress_of(job)
    if done:
        pairs.append(("progress", done))
    _fields(pairs)


def _megabytes(value: object) -> str:
    return f"{value / 1e6:.1f}" if isinstance(value, int | float) else "?"


def progress_of(job: Job) -> str:
    """``12.3 of 45.6 MB`` while an import transfers bytes ("" otherwise). ``Job.progress`` arrives with the
    images domain; it is read defensively so that a job without it still renders."""
    progress = getattr(job, "progress", None)
    if not isinstance(progress, dict) or not progress.get("bytes_total"):
        return ""
    return f"{_megabytes(progress.get('bytes_done'))} of {_megabytes(progress.get('bytes_total'))} MB"


def show_descriptor(descriptor: JobDescriptor) -> None:
    job = descriptor.job
    console().print(Text(f"{descriptor.action} started as job {job.id if job else NONE}"))


# --- hubs, roles, keys ---------------------------------------------------------------------------------------------


def show_hub(hub: Hub) -> None:
    _fields(
        [("id", hub.id), ("name", hub.name), ("identifier", hub.identifier), ("created", _when(hub.events.created))]
    )


def show_roles(roles: Sequence[Role]) -> None:
    _table(
        ("ID", "IDENTIFIER", "NAME", "CREATED"), [(r.id, r.identifier, r.name, _when(r.events.created)) for r in roles]
    )


def show_keys(keys: Sequence[ApiKey]) -> None:
    rows = [
        (k.id, k.name, k.hint + "…", ", ".join(k.capabilities), k.role_id or "", _when(k.events.created)) for k in keys
    ]
    _table(("ID", "NAME", "HINT", "CAPABILITIES", "ROLE", "CREATED"), rows)


def show_key(key: ApiKey) -> None:
    """A key; a new key's secret is printed once, on its own line, with a warning that it is not shown again."""
    _fields([("id", key.id), ("hub", key.hub_id), ("name", key.name), ("capabilities", ", ".join(key.capabilities))])
    if key.secret:
        err = console(stderr=True)
        err.print(Text("The secret below is shown only now; store it (for example as IMGSRC_API_KEY):"))
        typer.echo(key.secret)


def show_created_hub(created: CreatedHub) -> None:
    show_hub(created.hub)
    show_key(created.api_key)

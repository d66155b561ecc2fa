"""``imgsrc jobs``: list, show and wait for jobs; and the spinner every waiting command shares."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from imgsrc.cli import render
from imgsrc.cli.choices import JobStateChoice, values
from imgsrc.cli.connect import ApiKeyOption, DataDirOption, HubOption, JsonOption, UrlOption, open_client
from imgsrc.client import Client, Job
from imgsrc.client.jobs import JobRef, job_id_of

__all__ = ["PollOption", "TimeoutOption", "app", "follow"]


app = typer.Typer(name="jobs", help="Follow long operations (deletions, imports, builds).", no_args_is_help=True)

TimeoutOption = Annotated[
    float | None,
    typer.Option("--timeout", min=0, help="Give up waiting after this many seconds (exit code 6). Default: no limit."),
]
PollOption = Annotated[float, typer.Option("--poll", min=0.05, help="Seconds between two reads of the job.")]


def _describe(job: Job) -> str:
    steps = [step for task in job.tasks for step in task.steps or []]
    doing = f" · {steps[-1].caption}" if steps else ""
    progress = render.progress_of(job)
    return f"job {job.id}: {job.state.current}{doing}" + (f" · {progress}" if progress else "")


def follow(client: Client, target: JobRef, *, timeout: float | None, poll: float) -> Job:
    """Wait for a job with a spinner on stderr (silent when stderr is not a terminal); return the completed job,
    or raise the SDK's JobFailedError / JobTimeoutError."""
    err = render.console(stderr=True)
    with err.status(Text(f"job {job_id_of(target)}: waiting"), spinner="dots") as status:
        return client.jobs.wait(
            target, timeout=timeout, poll=poll, on_update=lambda job: status.update(Text(_describe(job)))
        )


@app.command("list")
def list_jobs(
    *,
    state: Annotated[
        list[JobStateChoice] | None,
        typer.Option("--state", help="Only jobs in this state (repeatable)."),
    ] = None,
    page: Annotated[int, typer.Option("--page", min=1, help="Page number.")] = 1,
    page_size: Annotated[int, typer.Option("--page-size", min=1, max=100, help="Jobs per page.")] = 20,
    all_pages: Annotated[bool, typer.Option("--all", help="Every matching job, all pages.")] = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    hub: HubOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
) -> None:
    """List the hub's jobs, newest first."""
    with open_client(url, api_key, hub, data_dir) as client:
        if all_pages:
            jobs: list[Job] = list(client.jobs.iter(state=values(state), page_size=100))
            total: int | None = len(jobs)
        else:
            found = client.jobs.list(state=values(state), page=page, page_size=page_size)
            jobs, total = list(found), found.total
    if json_out:
        render.emit(jobs)
    else:
        render.show_jobs(jobs, total)


@app.command("get")
def get_job(
    *,
    job_id: Annotated[str, typer.Argument(metavar="JOB_ID", help="The job's ID.")],
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    hub: HubOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
) -> None:
    """Show a job: its state, error, steps and progress."""
    with open_client(url, api_key, hub, data_dir) as client:
        job = client.jobs.get(job_id)
    if json_out:
        render.emit(job)
    else:
        render.show_job(job)


@app.command("wait")
def wait_job(
    *,
    job_id: Annotated[str, typer.Argument(metavar="JOB_ID", help="The job's ID.")],
    timeout: TimeoutOption = None,
    poll: PollOption = 2.0,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    hub: HubOption = None,
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
) -> None:
    """Wait until a job completes (exit 0), fails or expires (exit 5), or --timeout passes (exit 6)."""
    with open_client(url, api_key, hub, data_dir) as client:
        job = follow(client, job_id, timeout=timeout, poll=poll)
    if json_out:
        render.emit(job)
    else:
        render.show_job(job)

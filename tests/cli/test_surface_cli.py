"""The command line's surface: version, help for every command, fast start, exit codes, log redaction."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, cast, get_args

import pytest
import typer.main

from imgsrc import __version__
from imgsrc.cli import choices
from imgsrc.cli.failures import ExitCode, exit_code_for, message_for
from imgsrc.cli.logs import HANDLER_NAME, RedactQuerySecrets, configure_logging
from imgsrc.cli.main import app
from imgsrc.cli.origins import ORIGIN_TYPES
from imgsrc.cli.render import progress_of
from imgsrc.client.errors import ClientConnectionError, JobFailedError, JobTimeoutError
from imgsrc.errors import InvalidArgumentError, NotFoundError, UnknownError
from imgsrc.hubs.schemas import Capability
from imgsrc.images.schemas import ImageStateName
from imgsrc.jobs.schemas import Job, JobStateName
from imgsrc.sources.schemas import SourceState
from tests.cli.conftest import invoke
from tests.client.conftest import job_document


def _commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        yield (*path, name)
        if hasattr(command, "commands"):
            yield from _commands(command, (*path, name))


def test_version() -> None:
    result = invoke(["--version"])
    assert (result.exit_code, result.stdout) == (0, f"imgsrc {__version__}\n")


def test_every_command_has_help() -> None:
    """``--help`` works for every command and group and says what the command does."""
    root = typer.main.get_command(app)
    paths = list(_commands(root))
    expected = {"serve", "worker", "admin", "sources", "images", "import", "upload", "jobs", "hubs", "roles", "keys"}
    assert expected <= {p[0] for p in paths}
    assert ("sources", "create") in paths
    images = {"create", "import", "list", "get", "delete", "prune", "log", "rename", "pull-ref"}
    assert images <= {p[1] for p in paths if p[0] == "images" and len(p) == 2}
    for path in paths:
        result = invoke([*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert f"Usage: imgsrc {' '.join(path)}" in result.stdout
        command = root
        for name in path:
            command = command.commands[name]  # type: ignore[attr-defined]
        assert command.help, path
        assert command.help.split("\n")[0].split(".")[0][:40] in " ".join(result.stdout.split())


def test_help_documents_exit_codes_and_connection() -> None:
    text = " ".join(invoke(["--help"]).stdout.split())
    assert "3 server unreachable" in text
    assert "IMGSRC_API_KEY" in text


def test_client_commands_do_not_load_the_server_stack() -> None:
    """``imgsrc sources …`` starts without importing the web framework, the database or the queue."""
    code = "import imgsrc.cli.main, json, sys; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    heavy = ("fastapi", "starlette", "sqlalchemy", "alembic", "huey", "uvicorn", "imgsrc.api", "imgsrc.db")
    assert [m for m in json.loads(out) if m.split(".")[0] in heavy or m.startswith(heavy)] == []


@pytest.mark.parametrize(
    ("choice", "literal"),
    [
        (choices.SourceStateChoice, SourceState),
        (choices.JobStateChoice, JobStateName),
        (choices.ImageStateChoice, ImageStateName),
    ],
)
def test_choices_mirror_the_wire_literals(choice: Any, literal: Any) -> None:
    assert [c.value for c in choice] == list(get_args(literal))


def test_origin_type_choices_are_the_origin_types() -> None:
    assert tuple(c.value for c in choices.OriginTypeChoice) == ORIGIN_TYPES


def test_capability_choices_mirror_the_wire() -> None:
    assert [c.value for c in choices.CapabilityChoice] == ["all", *get_args(Capability)]


def test_exit_codes_tell_failures_apart() -> None:
    job = Job.model_validate(job_document("error", "disk full"))
    assert exit_code_for(ClientConnectionError("down")) == ExitCode.UNREACHABLE
    assert exit_code_for(NotFoundError("x", code="404.image.source")) == ExitCode.REFUSED
    assert exit_code_for(InvalidArgumentError("x")) == ExitCode.REFUSED
    assert exit_code_for(UnknownError("x")) == ExitCode.ERROR
    assert exit_code_for(JobFailedError("disk full", job=job)) == ExitCode.JOB_FAILED
    assert exit_code_for(JobTimeoutError("slow", job=None)) == ExitCode.TIMEOUT
    assert message_for(JobFailedError("disk full", job=job)) == f"error: job {job.id} ended in error: disk full"
    assert message_for(NotFoundError("gone", code="404.job")) == "error: gone (404.job)"


QUIETED = ("httpx", "httpcore", "botocore", "urllib3")


@pytest.fixture
def restore_root_logging() -> Iterator[None]:
    """Put back the root logger and the levels ``configure_logging`` sets on the HTTP libraries' loggers, so that
    later tests see logging as they found it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quieted = {name: logging.getLogger(name).level for name in QUIETED}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in quieted.items():
        logging.getLogger(name).setLevel(old)


def test_configure_logging_installs_one_redacting_handler(restore_root_logging: None) -> None:
    configure_logging("info")
    configure_logging("debug")
    ours = [h for h in logging.getLogger().handlers if h.get_name() == HANDLER_NAME]
    assert len(ours) == 1
    assert logging.getLogger().level == logging.DEBUG
    assert logging.getLogger("httpx").level == logging.WARNING
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("chatty")


def test_access_log_lines_lose_credential_query_values() -> None:
    """uvicorn's access line for an upload (``?hub-id=…&token=…``) is logged with the token masked."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactQuerySecrets())
    logger = logging.getLogger("test.imgsrc.access")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(
            '%s - "%s %s HTTP/%s" %d',
            "127.0.0.1:5000",
            "POST",
            "/v1/images/abc/upload?hub-id=h1&token=upload-secret-123&x=1",
            "1.1",
            200,
        )
    finally:
        logger.removeHandler(handler)
    line = stream.getvalue()
    assert "upload-secret-123" not in line
    assert "hub-id=h1&token=********&x=1" in line


def test_job_progress_reads_in_megabytes() -> None:
    """An import's byte counts show as ``done of total MB``; a job without them shows nothing."""
    importing = cast(Job, SimpleNamespace(progress={"bytes_done": 12_300_000, "bytes_total": 45_600_000}))
    assert progress_of(importing) == "12.3 of 45.6 MB"
    assert progress_of(Job.model_validate(job_document("running"))) == ""

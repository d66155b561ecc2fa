"""How the command line fails: one line on stderr, and an exit code that tells kinds of failure apart.

Every command may raise the project's errors; the root group turns them into ``error: <detail> (<code>)`` and the
exit code below. Unexpected exceptions keep Python's traceback, without local variables (they may hold keys).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import typer
from typer.core import TyperGroup

from imgsrc.client.errors import ClientConnectionError, JobFailedError, JobTimeoutError
from imgsrc.errors import AuthInvalidError, ImgsrcError, WrongHubError

__all__ = ["EXIT_CODES_HELP", "CliGroup", "ExitCode", "exit_code_for", "message_for", "usage_error"]


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1  # the server failed (5xx), or a bug
    USAGE = 2  # bad command line (click's own code)
    UNREACHABLE = 3  # the server could not be reached
    REFUSED = 4  # the server refused the request (4xx), or the client lacks configuration
    JOB_FAILED = 5  # a waited-for job ended in error or expired
    TIMEOUT = 6  # gave up waiting for a job
    INTERRUPTED = 130


EXIT_CODES_HELP = (
    "Exit codes: 0 success · 1 server error · 2 bad usage · 3 server unreachable · "
    "4 request refused (4xx) or missing configuration · 5 job failed · 6 timed out waiting for a job."
)

_HINTS = {
    AuthInvalidError: "check --api-key / IMGSRC_API_KEY (or the bootstrap file in --data-dir)",
    WrongHubError: "check --hub / IMGSRC_HUB_ID: the key belongs to another hub",
    ClientConnectionError: "is `imgsrc serve` running there? Set --url / IMGSRC_URL",
}


def usage_error(message: str, flag: str | None = None) -> typer.BadParameter:
    """A command-line mistake: typer prints it with the usage line and exits with code 2."""
    return typer.BadParameter(message, param_hint=flag)


def exit_code_for(error: ImgsrcError) -> ExitCode:
    if isinstance(error, ClientConnectionError):
        return ExitCode.UNREACHABLE
    if isinstance(error, JobFailedError):
        return ExitCode.JOB_FAILED
    if isinstance(error, JobTimeoutError):
        return ExitCode.TIMEOUT
    return ExitCode.REFUSED if 400 <= error.status < 500 else ExitCode.ERROR


def message_for(error: ImgsrcError) -> str:
    """The line printed for an error: ``error: <detail> (<code>)``, and a hint for the common mistakes."""
    if isinstance(error, JobFailedError):
        line = f"error: job {error.job.id} ended in {error.job.state.current}: {error.detail}"
    else:
        line = f"error: {error.detail} ({error.code})"
    for kind, hint in _HINTS.items():
        if isinstance(error, kind):
            return f"{line}\nhint: {hint}"
    return line


class CliGroup(TyperGroup):
    """The root command group: reports the project's errors as one line and a distinct exit code."""

    def invoke(self, ctx: Any) -> Any:  # typer's vendored click Context
        try:
            return super().invoke(ctx)
        except ImgsrcError as exc:
            typer.echo(message_for(exc), err=True)
            raise typer.Exit(int(exit_code_for(exc))) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None

"""A streaming subprocess runner: output line by line while the command runs, a deadline, and cancellation
that kills the whole process tree.

Git and buildah spawn helpers (ssh, runc, the chroot runtime), so the command is started in a new session and
stopped as a process group: SIGTERM first — buildah answers it by killing its container and unmounting — then
SIGKILL for whatever is left after a grace period. Stopping always runs to completion, even when the awaiting
task is cancelled again meanwhile, so a cancelled build never leaves a process behind.

stdout and stderr are merged (tools interleave progress and errors, and the order matters to a reader). Lines
end at ``\\n`` or ``\\r`` (progress bars redraw with ``\\r``); every line is redacted before anyone sees it; a
line longer than ``max_line`` characters is cut, and the rest of it dropped.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import re
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imgsrc.aio import finish_uncancelled
from imgsrc.builder.redact import Redactor
from imgsrc.errors import BuildError

__all__ = ["RunResult", "run_streaming"]

_EOL = re.compile(rb"[\r\n]")
_READ_CHUNK = 64 * 1024
# After the command exits, its output pipe normally reaches EOF at once; a stray holding it open is killed with
# the group, so this only bounds a pathological case.
_DRAIN_SECONDS = 5.0


@dataclass(frozen=True)
class RunResult:
    """How a command ended: its exit status and its last output lines (redacted, oldest first)."""

    returncode: int
    tail: tuple[str, ...]


def _killpg(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class _LinePump:
    """Reads a byte stream, splits it into redacted lines, hands them to ``on_line`` and keeps a tail."""

    def __init__(self, on_line: Callable[[str], None], redactor: Redactor, max_line: int, keep: int) -> None:
        self._on_line = on_line
        self._redactor = redactor
        self._max_line = max_line
        self.tail: collections.deque[str] = collections.deque(maxlen=keep)

    def _emit(self, raw: bytes, *, truncated: bool = False) -> None:
        text = self._redactor(raw.decode("utf-8", errors="replace"))
        if truncated:
            text = text[: self._max_line] + " [...]"
        text = text.rstrip()
        if text.strip():
            self.tail.append(text)
            self._on_line(text)

    async def run(self, stream: asyncio.StreamReader) -> None:
        buf = b""
        skipping = False  # inside the dropped remainder of an over-long line
        while chunk := await stream.read(_READ_CHUNK):
            buf += chunk
            while (match := _EOL.search(buf)) is not None:
                line, buf = buf[: match.start()], buf[match.end() :]
                if skipping:
                    skipping = False
                    continue
                self._emit(line)
            if skipping:
                buf = b""
            # Redact a window that reaches past the cut by the longest secret (4 bytes per character at most),
            # so a secret straddling the cut is still masked whole.
            elif len(buf) > self._max_line + 4 * self._redactor.longest:
                self._emit(buf, truncated=True)
                buf, skipping = b"", True
        if buf and not skipping:
            self._emit(buf)


async def _stop_group(proc: asyncio.subprocess.Process, grace: float) -> None:
    """SIGTERM the process group, SIGKILL it after ``grace`` seconds, and reap the leader."""
    if proc.returncode is None:
        _killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), grace)
    # Whatever is left in the group (the leader, or strays of a leader that already exited) is killed.
    _killpg(proc.pid, signal.SIGKILL)
    await proc.wait()


async def _finish(proc: asyncio.subprocess.Process, pump: asyncio.Task[None], grace: float) -> None:
    await _stop_group(proc, grace)
    done, _ = await asyncio.wait({pump}, timeout=_DRAIN_SECONDS)
    if not done:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump


async def run_streaming(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    on_line: Callable[[str], None],
    redactor: Redactor,
    what: str,
    cwd: Path | None = None,
    time_limit: float | None = None,
    kill_grace: float = 5.0,
    max_line: int = 4096,
    keep_lines: int = 40,
    quoted_limit: float | None = None,
) -> RunResult:
    """Run ``argv`` with exactly ``env``, streaming its merged output line by line to ``on_line``.

    Returns the exit status and the last ``keep_lines`` lines; a non-zero status is the caller's to judge.
    Raises :class:`BuildError` when the command cannot be started or runs past ``time_limit`` seconds (the
    group is stopped first; ``what`` names the command in the message, ``quoted_limit`` — default
    ``time_limit`` — is the duration it quotes, for callers whose deadline spans several commands). On
    cancellation the group is stopped and the cancellation propagates. An exception raised by ``on_line``
    stops the command and propagates.
    """
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        raise BuildError(f"{what} could not be started: {exc.strerror or exc}") from exc
    assert proc.stdout is not None  # noqa: S101 - stdout=PIPE above guarantees it
    lines = _LinePump(on_line, redactor, max_line, keep_lines)
    pump = asyncio.create_task(lines.run(proc.stdout))
    waiter = asyncio.ensure_future(proc.wait())
    timed_out = False
    try:
        try:
            async with asyncio.timeout(time_limit):
                pending: set[asyncio.Future[Any]] = {waiter, pump}
                while not waiter.done():
                    done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    if pump in done:
                        pump.result()  # re-raise a callback's error; the finally stops the command
        except TimeoutError:
            timed_out = True
    finally:
        waiter.cancel()
        await finish_uncancelled(_finish(proc, pump, kill_grace))
    if timed_out:
        raise BuildError(f"{what} timed out after {quoted_limit or time_limit:g} seconds and was stopped")
    assert proc.returncode is not None  # noqa: S101 - _finish reaped the process
    return RunResult(returncode=proc.returncode, tail=tuple(lines.tail))

"""The streaming runner, with real child processes: lines arrive while the command runs, secrets are masked,
long lines are cut, and timeouts, cancellation and callback errors stop the whole process group."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from pathlib import Path

import pytest
from tests.builder.conftest import run

from imgsrc.aio import finish_uncancelled
from imgsrc.builder.redact import MASK, Redactor
from imgsrc.builder.runner import run_streaming
from imgsrc.errors import BuildError

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def sh(script: str) -> list[str]:
    return ["/bin/sh", "-c", script]


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status


def test_lines_stream_while_the_command_runs(tmp_path: Path) -> None:
    """The first line reaches the callback while the command is still blocked reading its stdin-like fifo."""

    async def scenario(tmp: Path) -> tuple[int, list[str]]:
        fifo = tmp / "go"
        os.mkfifo(fifo)
        seen: list[str] = []
        first = asyncio.Event()

        def on_line(line: str) -> None:
            seen.append(line)
            first.set()

        task = asyncio.create_task(
            run_streaming(
                sh(f"echo first; cat {fifo}; echo second"), env=ENV, on_line=on_line, redactor=Redactor(), what="t"
            )
        )
        await first.wait()
        assert seen == ["first"]
        assert not task.done()
        await asyncio.to_thread(fifo.write_text, "released\n")
        result = await task
        return result.returncode, seen

    code, seen = run(scenario(tmp_path))
    assert code == 0
    assert seen == ["first", "released", "second"]


def test_stderr_is_merged_and_carriage_returns_split_lines() -> None:
    seen: list[str] = []
    result = run(
        run_streaming(
            sh("printf 'a\\rb\\n'; echo err >&2; exit 4"), env=ENV, on_line=seen.append, redactor=Redactor(), what="t"
        )
    )
    assert result.returncode == 4
    assert seen == ["a", "b", "err"]
    assert result.tail == ("a", "b", "err")


def test_secrets_are_masked_in_lines_and_tail() -> None:
    secret = "tok-" + secrets.token_hex(8)
    seen: list[str] = []
    result = run(
        run_streaming(
            sh(f"echo using {secret} now; echo https://u:{secret}x@h/p"),
            env=ENV,
            on_line=seen.append,
            redactor=Redactor([secret]),
            what="t",
        )
    )
    joined = "\n".join(seen + list(result.tail))
    assert secret not in joined
    assert f"using {MASK} now" in seen


def test_an_overlong_line_is_cut_and_a_secret_at_the_cut_is_still_masked() -> None:
    secret = "S" * 30
    script = f"{sys.executable} -c \"print('x' * 95 + '{secret}' + 'y' * 100000); print('next')\""
    seen: list[str] = []
    run(run_streaming(sh(script), env=ENV, on_line=seen.append, redactor=Redactor([secret]), what="t", max_line=100))
    assert len(seen) == 2
    assert seen[0].endswith("[...]")
    assert len(seen[0]) < 120
    assert "S" * 5 not in seen[0]
    assert seen[1] == "next"


def test_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    script = f"sleep 300 & echo $! > {marker}; trap '' TERM; wait"
    with pytest.raises(BuildError, match=r"the sleeper timed out after 0\.5 seconds"):
        run(
            run_streaming(
                sh(script),
                env=ENV,
                on_line=lambda _l: None,
                redactor=Redactor(),
                what="the sleeper",
                time_limit=0.5,
                kill_grace=0.5,
            )
        )
    child = int(marker.read_text())
    assert not alive(child), "the background child (same group) was killed too"


def test_cancellation_kills_the_group_and_propagates() -> None:
    async def scenario() -> int:
        started = asyncio.Event()
        pids: list[int] = []

        def on_line(line: str) -> None:
            pids.append(int(line))
            started.set()

        task = asyncio.create_task(
            run_streaming(sh("sleep 300 & echo $!; wait"), env=ENV, on_line=on_line, redactor=Redactor(), what="t")
        )
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return pids[0]

    child = run(scenario())
    assert not alive(child)


def test_an_error_in_the_callback_stops_the_command() -> None:
    class Boom(Exception):
        pass

    def on_line(line: str) -> None:
        raise Boom(line)

    async def scenario() -> None:
        await run_streaming(sh("echo one; sleep 300"), env=ENV, on_line=on_line, redactor=Redactor(), what="t")

    with pytest.raises(Boom, match="one"):
        run(scenario())


def test_a_missing_program_is_a_build_error() -> None:
    with pytest.raises(BuildError, match="could not be started"):
        run(run_streaming(["/nonexistent/tool"], env=ENV, on_line=print, redactor=Redactor(), what="the tool"))


def test_finish_uncancelled_completes_work_then_reraises_the_cancellation() -> None:
    async def scenario() -> list[str]:
        done: list[str] = []
        gate = asyncio.Event()

        async def cleanup() -> None:
            await gate.wait()
            done.append("cleaned")

        async def caller() -> None:
            await finish_uncancelled(cleanup())

        task = asyncio.create_task(caller())
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.sleep(0)
        task.cancel()  # a second cancellation does not cut the clean-up short either
        gate.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        return done

    assert run(scenario()) == ["cleaned"]

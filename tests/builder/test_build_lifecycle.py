"""A build that runs too long or is cancelled is stopped — every process of it, with either isolation — and
leaves no storage, mount, scratch directory or runc container behind; so does a buildah that was SIGKILLed."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from tests.builder.conftest import run

from imgsrc.builder import BuildSpec, build, probe_host
from imgsrc.builder import storage as storage_module
from imgsrc.builder.storage import BuildStorage, mounts_under
from imgsrc.errors import BuildError
from imgsrc.settings import Settings

pytestmark = [pytest.mark.buildah, pytest.mark.slow]

ISOLATIONS = ["oci", "chroot"]


@pytest.fixture
def shm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for /dev/shm, so the test can see what the build left there."""
    directory = tmp_path / "shm"
    directory.mkdir()
    monkeypatch.setattr(storage_module, "_SHM", directory)
    return directory


def sleeping_context(tmp_path: Path) -> tuple[Path, str]:
    """A context whose RUN prints a marker line, then sleeps for a duration unique to this test (so the test
    can look for its own sleeper among the host's processes)."""
    token = str(100000 + secrets.randbelow(800000))
    context = tmp_path / "context"
    context.mkdir()
    shutil.copy("/bin/busybox", context / "busybox")
    (context / "Dockerfile").write_text(
        "FROM scratch\nCOPY busybox /bin/busybox\n"
        f'RUN ["/bin/busybox", "sh", "-c", "echo started-{token}; exec /bin/busybox sleep {token}"]\n'
    )
    return context, token


def processes_with(token: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            status = (entry / "status").read_text()
        except OSError:
            continue
        if f"sleep\0{token}".encode() in cmdline and "State:\tZ" not in status:
            found.append(int(entry.name))
    return found


def runc_bundles_under(path: Path) -> list[str]:
    listed = subprocess.run(["runc", "list", "--format", "json"], capture_output=True, check=False, timeout=30)
    containers = json.loads(listed.stdout or b"null") or []
    return [c["bundle"] for c in containers if str(c.get("bundle", "")).startswith(str(path))]


def assert_nothing_left(workdir: Path, shm: Path, token: str) -> None:
    assert processes_with(token) == [], "the build's processes are gone"
    assert list(workdir.iterdir()) == [], "the build's storage is removed"
    assert mounts_under(workdir) == []
    assert mounts_under(shm) == []
    assert list(shm.iterdir()) == [], "scratch space and the auth file are removed"
    assert runc_bundles_under(shm) == []


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_timeout_stops_the_build_and_cleans_up(tmp_path: Path, settings: Settings, shm: Path, isolation: str) -> None:
    settings = settings.model_copy(update={"builder_isolation": isolation, "build_timeout_seconds": 6.0})
    context, token = sleeping_context(tmp_path)
    workdir = tmp_path / "work"
    workdir.mkdir()
    lines: list[str] = []
    with pytest.raises(BuildError, match="timed out after 6 seconds"):
        run(build(BuildSpec(context, context / "Dockerfile"), tmp_path / "layout", workdir, settings, lines.append))
    assert f"started-{token}" in lines, "the timeout struck while RUN was running"
    assert_nothing_left(workdir, shm, token)


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_cancellation_stops_the_build_and_cleans_up(
    tmp_path: Path, settings: Settings, shm: Path, isolation: str
) -> None:
    settings = settings.model_copy(update={"builder_isolation": isolation})
    context, token = sleeping_context(tmp_path)
    workdir = tmp_path / "work"
    workdir.mkdir()

    async def scenario() -> None:
        started = asyncio.Event()

        def on_output(line: str) -> None:
            if line == f"started-{token}":
                started.set()

        task = asyncio.create_task(
            build(BuildSpec(context, context / "Dockerfile"), tmp_path / "layout", workdir, settings, on_output)
        )
        waiter = asyncio.create_task(started.wait())
        done, _ = await asyncio.wait({task, waiter}, timeout=120, return_when=asyncio.FIRST_COMPLETED)
        assert waiter in done, f"the RUN step never started: {task.exception() if task.done() else 'timeout'}"
        # the marker is echoed just before `exec sleep`: give the exec a moment to show in /proc
        deadline = asyncio.get_running_loop().time() + 10
        while not processes_with(token) and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # /proc offers nothing to wait on
        assert processes_with(token), "the sleeper runs before the cancellation"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(scenario())
    assert_nothing_left(workdir, shm, token)


def test_removal_kills_the_container_a_sigkilled_buildah_left_running(
    tmp_path: Path, settings: Settings, shm: Path
) -> None:
    """runc runs the RUN step in its own session; SIGKILL to buildah's group does not reach it. The storage
    removal finds it by its bundle (in the build's scratch directory), kills it through runc, unmounts, and
    removes everything."""
    if shutil.which("runc") is None:
        pytest.skip("runc is not installed")
    context, token = sleeping_context(tmp_path)
    workdir = tmp_path / "work"
    workdir.mkdir()
    driver = run(probe_host(settings, workdir)).driver
    storage = BuildStorage.create(workdir, driver, use_disk=False)
    storage.write_config(registries="", auth='{"auths": {}}\n')
    argv = ["buildah", *storage.args, "build", "--isolation=oci", "--layers=false", str(context)]
    proc = subprocess.Popen(
        argv, env=storage.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, text=True
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip() == f"started-{token}":
                break
        else:
            pytest.fail("the RUN step never started")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert processes_with(token), "precondition: the container outlived its buildah"
        assert mounts_under(workdir), "precondition: buildah left its mounts"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
        problems = storage.remove()
    assert problems == []
    assert_nothing_left(workdir, shm, token)

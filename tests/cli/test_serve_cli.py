"""``imgsrc serve`` and ``imgsrc worker`` as real processes."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from imgsrc.client import Client
from tests.cli.conftest import ENV_NAMES, Cli, invoke
from tests.conftest import make_settings
from tests.support.server import free_port, live_server

pytestmark = pytest.mark.slow


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES and not k.startswith("IMGSRC_")}
    env.update(extra)
    return env


@contextmanager
def imgsrc_process(args: list[str], log: Path, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m imgsrc.cli <args>`` with stdout and stderr in ``log``; SIGTERM and reaped on exit."""
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "imgsrc.cli", *args], stdout=out, stderr=out, env=_env(**env))
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)  # polling a starting process for readiness; there is no event to await
    raise AssertionError(f"the server did not start:\n{log.read_text()}")


def test_serve_bootstraps_prints_the_path_not_the_key_and_keeps_data_across_restarts(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ["serve", "--port", str(port), "--data-dir", str(data_dir), "--workers", "1"]
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"

    with imgsrc_process(args, first_log, IMGSRC_LOG_LEVEL="INFO") as process:
        _wait_healthy(url, process, first_log)
        boot_file = data_dir / "bootstrap.json"
        assert stat.S_IMODE(boot_file.stat().st_mode) == 0o600
        key = json.loads(boot_file.read_text())["api_key"]
        created = Cli(url, data_dir).json("sources", "create", "--origin", "docker-hub", "--target", "redis:7")
    first = first_log.read_text()
    # uvicorn re-raises SIGTERM after its graceful shutdown, so the exit status says "terminated by SIGTERM".
    assert process.returncode in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in first
    assert str(boot_file.resolve()) in first
    assert f"--url {url}" in first
    assert key not in first

    with imgsrc_process(args, second_log) as process:
        _wait_healthy(url, process, second_log)
        listed = Cli(url, data_dir).json("sources", "list")
    assert [s["id"] for s in listed] == [created["id"]]
    second = second_log.read_text()
    assert "bootstrap.json" not in second
    assert key not in second


def test_dedicated_worker_runs_the_jobs_of_a_server_without_workers(tmp_path: Path) -> None:
    """``serve --workers 0`` plus ``imgsrc worker`` on the same data directory: jobs still complete."""
    settings = make_settings(tmp_path / "data", workers=0)
    with live_server(settings, start_workers=False) as server:
        log = tmp_path / "worker.log"
        with imgsrc_process(["worker", "--threads", "1", "--data-dir", str(settings.data_dir)], log) as process:
            with Client(server.url, server.api_key, server.hub_id) as client:
                source = client.sources.create(origin={"type": "none"})
                job = client.jobs.wait(client.sources.delete(source.id), timeout=60, poll=0.1)
            assert job.state.current == "completed", log.read_text()
        assert process.returncode == 0, log.read_text()
    assert "worker" in log.read_text()


def test_serve_refuses_invalid_settings_without_echoing_values(tmp_path: Path) -> None:
    result = invoke(["serve", "--data-dir", str(tmp_path)], env={"IMGSRC_WORKERS": "-1", "IMGSRC_DATABASE_URL": None})
    assert result.exit_code == 2
    assert "workers" in result.output

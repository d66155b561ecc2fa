"""A job killed with its process mid-download is picked up when the server starts again, and finishes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.factory.conftest import registry_origin
from tests.support.faults import start_fault_proxy
from tests.support.images import make_layer, push_image
from tests.support.processes import stop
from tests.support.registry import RunningRegistry
from tests.support.server import free_port, wait_healthy

pytestmark = [pytest.mark.registry, pytest.mark.slow]


@contextmanager
def serve(data_dir: Path, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "IMGSRC_DATA_DIR": str(data_dir),
        "IMGSRC_JOB_LEASE_SECONDS": "5",
        "IMGSRC_JOB_RECOVER_SECONDS": "0.5",
        "IMGSRC_JOB_POLL_SECONDS": "0.05",
    }
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "imgsrc.cli.main", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        started = wait_healthy(f"http://127.0.0.1:{port}", alive=lambda: process.poll() is None)
        assert started, f"the server did not start: {log.read_text()[-3000:]}"
        yield process
    finally:
        stop(process, timeout=20)


def client(data_dir: Path, port: int) -> httpx.Client:
    boot = json.loads((data_dir / "bootstrap.json").read_text())
    return httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {boot['api_key']}", "X-Hub-Id": boot["hub_id"]},
        timeout=10,
    )


def test_a_job_killed_mid_download_finishes_after_restart(registry: RunningRegistry, tmp_path: Path) -> None:
    first = make_layer(tmp_path / "layers", 200_000)
    second = make_layer(tmp_path / "layers", 300_000)
    pushed = push_image(registry, tmp_path, "crash/me", layers=[first, second])
    data_dir, port, log = tmp_path / "data", free_port(), tmp_path / "server.log"
    with start_fault_proxy(registry.url) as proxy:
        # the second layer is held back long enough for the process to die mid-import
        proxy.rate_limit(r"/v2/.+/blobs/" + re.escape(second.digest), retry_after="30", times=1)
        origin = registry_origin(registry, "crash/me:latest")
        origin["details"]["url"] = proxy.url  # type: ignore[index]
        with serve(data_dir, port, log) as server, client(data_dir, port) as api:
            source = api.post("/v1/images/sources", json={"type": "direct", "origin": origin}).json()["data"]
            image = api.post("/v1/images", json={"source_id": source["id"]}).json()["data"]
            job_id = api.post(f"/v1/images/{image['id']}/tasks", json={"action": "import"}).json()["data"]["job"]["id"]
            blob = data_dir / "store" / "blobs" / "sha256" / first.digest.split(":")[1]
            deadline = time.monotonic() + 30
            while not blob.exists():
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.05)
            assert api.get(f"/v1/jobs/{job_id}").json()["data"]["state"]["current"] == "running"
            server.send_signal(signal.SIGKILL)
            server.wait()
        with serve(data_dir, port, log), client(data_dir, port) as api:
            deadline = time.monotonic() + 60
            while True:
                job = api.get(f"/v1/jobs/{job_id}").json()["data"]
                if job["state"]["current"] in ("completed", "error"):
                    break
                assert time.monotonic() < deadline, f"job still {job['state']['current']}"
                time.sleep(0.1)
            assert job["state"]["current"] == "completed", job
            live = api.get(f"/v1/images/{image['id']}").json()["data"]
            assert live["state"]["current"] == "live"
            assert live["backend"]["file_id"] == pushed.manifest_digest
            log_text = api.get(f"/v1/images/{image['id']}/build-log").json()["data"]["log"]
            assert "attempt 2" in log_text
            assert "already stored" in log_text  # the layer fetched before the crash was not fetched again
        assert proxy.count("GET", r"/v2/.+/blobs/" + re.escape(first.digest)) == 1
    assert not list((data_dir / "store" / "tmp").glob(f"{image['id']}-*"))

"""Watching imports and uploads: the live bar on a terminal, the plain lines elsewhere, and Ctrl-C, which stops the
watching but not the import (a real SIGINT to a real ``imgsrc import`` process)."""

from __future__ import annotations

import io
import os
import selectors
import signal
import subprocess
import sys
import time

from rich.console import Console

from imgsrc.cli.failures import ExitCode
from imgsrc.cli.progress import ImportWatch, UploadWatch
from imgsrc.client import Client, Image, ImportProgress, Job, UploadProgress
from tests.cli.conftest import ENV_NAMES
from tests.cli.upstreams import stalled_registry
from tests.client.conftest import image_document, job_document
from tests.support.server import LiveServer


def reading(state: str, done: int, total: int, layers: tuple[int, int, int] = (0, 0, 2)) -> ImportProgress:
    layers_done, layers_present, layers_total = layers
    progress = {
        "bytes_done": done,
        "bytes_total": total,
        "layers_done": layers_done,
        "layers_present": layers_present,
        "layers_total": layers_total,
    }
    job = Job.model_validate({**job_document("running"), "progress": progress})
    return ImportProgress(job, Image.model_validate(image_document(state)))


def terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=150, color_system=None, legacy_windows=False), out


def test_on_a_terminal_the_import_bar_shows_bytes_rate_layers_and_state() -> None:
    console, out = terminal()
    with ImportWatch(console, "6b0a5bee1c2d3e4f5a6b7c8d") as watch:
        watch.update(reading("downloading", 2_000_000, 8_000_000, (1, 0, 2)))
        watch.update(reading("verifying", 8_000_000, 8_000_000, (1, 1, 2)))
    text = out.getvalue()
    assert "verifying" in text
    assert "8.0/8.0 MB" in text
    assert "layers 2/2, 1 present" in text
    assert "/s" in text  # the transfer rate column


def test_elsewhere_one_line_per_change_and_none_for_repeats() -> None:
    """Plain output prints a line when the state, step, a layer count or the quarter of bytes changes: a poll that
    brings nothing new prints nothing."""
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=150)
    with ImportWatch(console, "img") as watch:
        watch.update(reading("downloading", 0, 8_000_000))
        watch.update(reading("downloading", 100, 8_000_000))  # same quarter: nothing new
        watch.update(reading("downloading", 4_000_000, 8_000_000, (1, 0, 2)))
        watch.update(reading("live", 8_000_000, 8_000_000, (2, 0, 2)))
    assert out.getvalue().splitlines() == [
        "importing image img",
        "downloading · 0 B of 8.0 MB · layers 0/2",
        "downloading · 4.0 MB of 8.0 MB · layers 1/2",
        "live · 8.0 MB of 8.0 MB · layers 2/2",
    ]


def test_the_upload_bar_and_lines() -> None:
    console, out = terminal()
    with UploadWatch(console, "app.tar") as watch:
        watch.update(UploadProgress(3_000_000, 4_000_000))
    assert "3.0/4.0 MB" in out.getvalue()
    plain = io.StringIO()
    with UploadWatch(Console(file=plain, force_terminal=False), "app.tar") as watch:
        for sent in (0, 1, 2_000_000, 4_000_000):
            watch.update(UploadProgress(sent, 4_000_000))
    assert plain.getvalue().splitlines() == [
        "uploading app.tar: 0 B of 4.0 MB",
        "uploading app.tar: 2.0 MB of 4.0 MB",
        "uploading app.tar: 4.0 MB of 4.0 MB",
        "sent 4.0 MB; the server verified and stored the image",
    ]


def _read_until(stream: io.BufferedReader, needle: bytes, deadline: float) -> bytes:
    seen = b""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while needle not in seen:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {needle!r} in {seen!r}"
            if selector.select(timeout=remaining):
                chunk = os.read(stream.fileno(), 4096)
                assert chunk, f"the command ended before {needle!r}: {seen!r}"
                seen += chunk
    return seen


def test_ctrl_c_stops_watching_and_the_import_goes_on(server: LiveServer) -> None:
    """SIGINT to ``imgsrc import`` while the import runs: exit 130, a message naming the job and how to follow it,
    and the job still running afterwards."""
    with stalled_registry() as (url, hit, _release), Client(server.url, server.api_key, server.hub_id) as sdk:
        sdk.sources.create(name="stuck", origin={"type": "docker-registry", "details": {"target": "a:1", "url": url}})
        env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
        command = [sys.executable, "-m", "imgsrc.cli", "import", "stuck", "--poll", "0.1", "--url", server.url]
        command += ["--data-dir", str(server.settings.data_dir)]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        try:
            assert process.stderr is not None
            _read_until(process.stderr, b"importing image", time.monotonic() + 30)  # type: ignore[arg-type]
            assert hit.wait(timeout=30), "the import never reached the registry"
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode == ExitCode.INTERRUPTED, stderr
        message = stderr.decode()
        assert "stopped watching; the import goes on as job" in message
        (image,) = sdk.images.list()
        assert f"imgsrc images log {image.id} --follow" in message
        job_id = message.split("goes on as job ", 1)[1].split(".", 1)[0]
        assert sdk.jobs.get(job_id).state.current == "running"
        assert stdout == b""
        sdk.jobs.wait(sdk.images.delete(image.id), timeout=30, poll=0.05)  # cancels the import

"""``imgsrc serve`` as a real subprocess on a free loopback port, with its own data directory.

The server runs exactly as an operator would start it (``.venv/bin/imgsrc serve --port P`` with
``IMGSRC_DATA_DIR``), job workers included, so its ``/proc/<pid>/status`` covers everything an import costs.
Its output goes to a log file beside the data directory; the admin key is read from ``bootstrap.json`` and never
printed or put on a command line.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.processes import stop
from tests.support.registry import free_port
from tests.support.server import wait_healthy

from benchkit import memory
from benchkit.cpu import cpu_seconds

__all__ = ["ImgsrcServer", "imgsrc_server"]

_STARTUP_SECONDS = 60.0
_STOP_SECONDS = 30.0


@dataclass
class ImgsrcServer:
    """A started server: where it listens, its process, and the bootstrap hub's admin credentials."""

    url: str
    port: int
    process: subprocess.Popen[bytes] = field(repr=False)
    data_dir: Path
    log_path: Path
    hub_id: str
    api_key: str = field(repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "X-Hub-Id": self.hub_id}

    def peak_kib(self) -> int:
        return memory.peak_kib(self.pid)

    def rss_kib(self) -> int:
        return memory.rss_kib(self.pid)

    def reset_peak(self) -> None:
        memory.reset_peak(self.pid)

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system, all threads) the server has used so far."""
        user, system = cpu_seconds(self.pid)
        return user + system

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


@contextlib.contextmanager
def imgsrc_server(
    data_dir: Path, *, env: dict[str, str] | None = None, src: Path | None = None
) -> Iterator[ImgsrcServer]:
    """Start ``imgsrc serve`` on a fresh ``data_dir`` (created; must not hold a previous server's state for a fair
    first import) and stop it (SIGTERM, then SIGKILL) on exit. ``env`` adds ``IMGSRC_*`` settings. ``src`` runs
    the server from another source tree (a directory holding the ``imgsrc`` package, put first on
    ``PYTHONPATH``), to measure a proposed change side by side with the checkout."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.with_name(data_dir.name + ".log")
    executable = Path(sys.executable).with_name("imgsrc")
    port = free_port()
    environment = {**os.environ, **(env or {}), "IMGSRC_DATA_DIR": str(data_dir)}
    if src is not None:
        if not (src / "imgsrc" / "__init__.py").is_file():
            raise RuntimeError(f"{src} holds no imgsrc package")
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), environment.get("PYTHONPATH")]))
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(executable), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        if not wait_healthy(url, alive=lambda: process.poll() is None, timeout=_STARTUP_SECONDS):
            raise RuntimeError(f"imgsrc serve did not start: {log_path.read_text(errors='replace')[-2000:]}")
        boot = json.loads((data_dir / "bootstrap.json").read_text())
        yield ImgsrcServer(url, port, process, data_dir, log_path, boot["hub_id"], boot["api_key"])
    finally:
        stop(process, timeout=_STOP_SECONDS)

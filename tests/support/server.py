"""Run the real HTTP server (uvicorn) in a background thread on a free loopback port, for tests that talk to it
over the network: the SDK, the CLI, registry clients."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from imgsrc.api.app import create_app
from imgsrc.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    settings: Settings
    hub_id: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "X-Hub-Id": self.hub_id}


def wait_healthy(url: str, *, alive: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Poll ``GET <url>/healthz`` until it answers 200 (True), or the server stops being ``alive()`` or
    ``timeout`` seconds pass (False). The server offers no readiness signal other than answering."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        if not alive() or time.monotonic() > deadline:
            return False
        time.sleep(0.05)


@contextlib.contextmanager
def live_server(settings: Settings, *, start_workers: bool = True) -> Iterator[LiveServer]:
    """Start ``create_app(settings)`` under uvicorn; stop it (gracefully) on exit."""
    port = free_port()
    app = create_app(settings, start_workers=start_workers)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    if not wait_healthy(url, alive=thread.is_alive):
        server.should_exit = True
        raise RuntimeError("the test server did not start")
    boot = json.loads(Path(settings.data_dir, "bootstrap.json").read_text())
    try:
        yield LiveServer(url=url, settings=settings, hub_id=boot["hub_id"], api_key=boot["api_key"])
    finally:
        server.should_exit = True
        thread.join(timeout=30)

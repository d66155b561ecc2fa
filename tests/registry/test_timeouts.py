"""The download timeout is on silence, not on total duration: a slow but steady transfer completes even when
it lasts many times the timeout, and a stalled one is abandoned (after its retries) with a RegistryError."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from imgsrc.errors import RegistryError
from imgsrc.registry import Descriptor
from imgsrc.registry.manifests import OCI_LAYER_GZIP
from imgsrc.settings import Settings
from tests.registry.conftest import ClientFactory, run
from tests.support.httpd import serve_in_thread

BLOB = os.urandom(40_000)
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()


@contextlib.contextmanager
def slow_server(pieces: int, pause: float, stall_after: int | None) -> Iterator[str]:
    """Serves ``BLOB`` in ``pieces`` parts, ``pause`` seconds apart (the pause is the behaviour under test,
    not synchronisation); with ``stall_after``, goes silent after that many parts of a first request, and at
    once on a resumed (``Range``) request, until the test ends."""
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:
            start = 0
            if (header := self.headers.get("Range")) is not None:
                start = int(header.removeprefix("bytes=").rstrip("-"))
            body = BLOB[start:]
            self.send_response(206 if start else 200)
            self.send_header("Content-Length", str(len(body)))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(BLOB) - 1}/{len(BLOB)}")
            self.end_headers()
            step = max(1, len(body) // pieces)
            for index, offset in enumerate(range(0, len(body), step)):
                if stall_after is not None and (start or index >= stall_after):
                    release.wait(30)
                    return
                self.wfile.write(body[offset : offset + step])
                self.wfile.flush()
                release.wait(pause)

    with serve_in_thread(Handler, "slow-registry") as url:
        try:
            yield url
        finally:
            release.set()


def test_slow_but_moving_download_outlasts_the_silence_timeout(make_client: ClientFactory, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, http_timeout_seconds=0.5, retries=0)
    dest = tmp_path / "blob"
    with slow_server(pieces=12, pause=0.15, stall_after=None) as url:  # ~1.8 s in all, never 0.5 s silent

        async def scenario() -> None:
            async with make_client(url, settings_override=settings) as client:
                await client.download_blob("slow/blob", Descriptor(OCI_LAYER_GZIP, DIGEST, len(BLOB)), dest)

        run(scenario())
    assert dest.read_bytes() == BLOB


def test_stalled_download_is_abandoned_after_its_retries(make_client: ClientFactory, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, http_timeout_seconds=0.3, retries=1)
    dest = tmp_path / "blob"
    with slow_server(pieces=4, pause=0.0, stall_after=1) as url:

        async def scenario() -> None:
            async with make_client(url, settings_override=settings) as client:
                await client.download_blob("slow/blob", Descriptor(OCI_LAYER_GZIP, DIGEST, len(BLOB)), dest)

        with pytest.raises(RegistryError, match=r"ReadTimeout.*3 attempts"):
            run(scenario())
    # the part that arrived before the stall is kept for a later resume
    assert dest.read_bytes() == BLOB[:10_000]

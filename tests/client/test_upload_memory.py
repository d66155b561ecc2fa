"""A 10 GiB upload over a real loopback connection keeps the uploading process's memory flat: measured as the
peak resident set (``VmHWM``) of a separate Python process against its resident set before the upload, so nothing
else in the test session can blur the figure."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.client.conftest import image_document
from tests.support.httpd import serve_in_thread

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
GIB = 1024**3

UPLOADER = r"""
import asyncio, json, sys
sys.path.insert(0, sys.argv[1])
from imgsrc.client import AsyncClient, Client
from tests.client.test_uploads import Zeros, created_image

def kib(field):
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith(field)).split()[1])

url, size, mode = sys.argv[2], int(sys.argv[3]), sys.argv[4]
before = kib("VmRSS:")
if mode == "sync":
    with Client(url, "key", "0" * 24) as client:
        image = client.images.upload(created_image(), Zeros(size))
else:
    async def run():
        async with AsyncClient(url, "key", "0" * 24) as client:
            return await client.images.upload(created_image(), Zeros(size))
    image = asyncio.run(run())
print(json.dumps({"before_kib": before, "peak_kib": kib("VmHWM:"), "state": image.state.current}))
"""


@dataclass
class Sink:
    """What the discarding upload endpoint saw: body bytes per request and each body's last bytes."""

    sizes: list[int] = field(default_factory=list)
    tails: list[bytes] = field(default_factory=list)


@contextlib.contextmanager
def discarding_endpoint() -> Iterator[tuple[str, Sink]]:
    """An HTTP server that reads each request body in 1 MiB pieces, keeps only its length and tail, and answers a
    live image."""
    sink = Sink()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            got, tail = 0, b""
            while got < length:
                chunk = self.rfile.read(min(1 << 20, length - got))
                if not chunk:
                    break
                got += len(chunk)
                tail = (tail + chunk)[-64:]
            sink.sizes.append(got)
            sink.tails.append(tail)
            body = json.dumps({"data": image_document("live")}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the test reads what it needs from the sink."""

    with serve_in_thread(Handler, "upload-sink") as url:
        yield url, sink


@pytest.mark.parametrize(("mode", "size"), [("sync", 10 * GIB), ("async", 1 * GIB)])
def test_uploading_gigabytes_keeps_resident_memory_flat(mode: str, size: int) -> None:
    with discarding_endpoint() as (url, sink):
        done = subprocess.run(
            [sys.executable, "-c", UPLOADER, str(ROOT), url, str(size), mode],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout)
    assert figures["state"] == "live"
    assert len(sink.sizes) == 1
    assert sink.sizes[0] > size  # the whole file, plus the multipart head and tail
    assert sink.tails[0].endswith(b"--\r\n")
    growth_mib = (figures["peak_kib"] - figures["before_kib"]) / 1024
    assert growth_mib < 32, f"resident memory grew by {growth_mib:.1f} MiB"

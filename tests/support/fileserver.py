"""A loopback HTTP server of fixed files (build contexts as ``.tar.gz``), in a thread: for tests and benchmarks."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from tests.support.httpd import serve_in_thread

__all__ = ["FileServer", "serve_files"]


@dataclass
class FileServer:
    """Serves ``files`` (URL path → bytes; may be changed while it runs) at ``url``; ``requests`` lists the
    paths asked for."""

    url: str
    files: dict[str, bytes]
    requests: list[str] = field(default_factory=list)


@contextlib.contextmanager
def serve_files(files: Mapping[str, bytes] = {}) -> Iterator[FileServer]:
    """Serve ``files`` on a free loopback port until the block ends; unknown paths answer 404."""
    state = FileServer(url="", files=dict(files))

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            state.requests.append(self.path)
            data = state.files.get(self.path)
            self.send_response(200 if data is not None else 404)
            self.send_header("Content-Length", str(len(data or b"")))
            self.end_headers()
            self.wfile.write(data or b"")

    with serve_in_thread(Handler, "file-server") as url:
        state.url = url
        yield state

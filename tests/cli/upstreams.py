"""Upstreams that misbehave on purpose, for CLI tests that need an import to stay running (or fail) on cue."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

from tests.support.httpd import serve_in_thread

__all__ = ["stalled_registry"]


@contextlib.contextmanager
def stalled_registry(status: int = 503) -> Iterator[tuple[str, threading.Event, threading.Event]]:
    """A "registry" that accepts requests and answers none until released (then ``status``, no body): an import
    from it stays running meanwhile. Yields its URL, an event set at its first request, and the event that
    releases it."""
    hit, release = threading.Event(), threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def _stall(self) -> None:
            hit.set()
            release.wait(timeout=60)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_HEAD = _stall

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    with serve_in_thread(Handler, "stalling-upstream") as url:
        try:
            yield url, hit, release
        finally:
            release.set()

"""The loopback HTTP servers the tests start in a thread (files, git over HTTP, token service, fault proxy)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["serve_in_thread"]


@contextlib.contextmanager
def serve_in_thread(handler: Callable[..., BaseHTTPRequestHandler], name: str) -> Iterator[str]:
    """Serve ``handler`` (a handler class, or a factory of handlers) on a free loopback port in a daemon
    thread; yields ``http://127.0.0.1:<port>`` and stops the server (and its thread) when the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

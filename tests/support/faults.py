"""A fault-injecting HTTP proxy placed in front of a registry.

:func:`start_fault_proxy` starts a threaded HTTP/1.1 proxy on a free loopback port that forwards every
request to ``upstream`` (the ``Host`` header is passed through, so the registry's upload ``Location`` URLs
point back at the proxy). Rules, matched by method and a path regular expression (full match), change what
one request gets:

- :meth:`FaultProxy.drop_after`: send status, headers and the first N body bytes, then cut the connection;
- :meth:`FaultProxy.status` / :meth:`FaultProxy.rate_limit`: answer an error (``429`` with ``Retry-After``)
  without asking upstream;
- :meth:`FaultProxy.corrupt`: serve the right number of wrong bytes (wrong digest);
- :meth:`FaultProxy.truncate`: serve only the first N bytes, with a ``Content-Length`` that agrees;
- :meth:`FaultProxy.wrong_content_length`: declare a ``Content-Length`` that does not match the body;
- :meth:`FaultProxy.replace` (and ``huge_manifest``, ``schema1_manifest``, ``unknown_media_type``): answer a
  body of the test's choosing;
- :meth:`FaultProxy.redirect`: answer ``307`` to the same path on another base URL (object storage stand-in).

Each rule applies ``times`` times (``None``: always), then steps aside. Every request is recorded
(:class:`ProxyRequest`: method, path, status, body bytes sent, the ``Range`` header and whether an
``Authorization`` header came, never its value), so tests can assert "no blob GET", "manifest fetched by
HEAD only", "blob fetched once" or "bytes fetched ~ blob size".
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from tests.support.httpd import serve_in_thread

__all__ = [
    "Action",
    "Corrupt",
    "DropAfter",
    "FaultProxy",
    "ProxyRequest",
    "Redirect",
    "Replace",
    "Rule",
    "Status",
    "Truncate",
    "WrongContentLength",
    "blob_path",
    "manifest_path",
    "start_fault_proxy",
]

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
}
_CHUNK = 64 * 1024
SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"


def blob_path(repository: str, digest: str) -> str:
    """The request path of a blob, escaped for use as a rule pattern."""
    return re.escape(f"/v2/{repository}/blobs/{digest}")


def manifest_path(repository: str, reference: str) -> str:
    """The request path of a manifest (tag or digest), escaped for use as a rule pattern."""
    return re.escape(f"/v2/{repository}/manifests/{reference}")


# --- actions ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DropAfter:
    """Forward status and headers, send ``n_bytes`` of the body, then close the connection."""

    n_bytes: int


@dataclass(frozen=True)
class Status:
    """Answer ``code`` without asking upstream (``Retry-After`` if given)."""

    code: int
    retry_after: str | None = None
    body: bytes = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"injected fault"}]}'


@dataclass(frozen=True)
class Corrupt:
    """Serve the upstream body with its first byte flipped: same length, wrong digest."""


@dataclass(frozen=True)
class Truncate:
    """Serve only the first ``n_bytes`` of the body, with ``Content-Length: n_bytes``."""

    n_bytes: int


@dataclass(frozen=True)
class WrongContentLength:
    """Declare ``declared`` as ``Content-Length``; send at most that many bytes, then close the connection."""

    declared: int


@dataclass(frozen=True)
class Replace:
    """Answer ``body`` with ``content_type`` and ``status``, whatever upstream said (it is still asked, so
    an authenticating registry's 401 challenge is replaced too: use on anonymous registries).
    ``Docker-Content-Digest`` is the replaced body's digest unless ``digest`` says otherwise."""

    body: bytes
    content_type: str
    status: int = 200
    digest: str | None = None


@dataclass(frozen=True)
class Redirect:
    """Answer ``307`` to ``base_url`` + the request's path and query."""

    base_url: str


Action = DropAfter | Status | Corrupt | Truncate | WrongContentLength | Replace | Redirect


@dataclass
class Rule:
    method: str | None
    pattern: re.Pattern[str]
    action: Action
    times: int | None
    hits: int = 0


@dataclass(frozen=True)
class ProxyRequest:
    method: str
    path: str
    status: int
    bytes_sent: int
    range: str | None
    authorization: bool
    rule: Action | None


@dataclass
class FaultProxy:
    """The running proxy: add rules, read the request log."""

    url: str
    host: str
    upstream: str
    _rules: list[Rule] = field(default_factory=list)
    _log: list[ProxyRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- rules ----------------------------------------------------------------------------------------------

    def add(self, path: str, action: Action, *, method: str | None = "GET", times: int | None = 1) -> Rule:
        """Apply ``action`` to requests of ``method`` (``None``: any) whose path fully matches ``path``."""
        rule = Rule(method, re.compile(path), action, times)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear_rules(self) -> None:
        with self._lock:
            self._rules.clear()

    def drop_after(self, path: str, n_bytes: int, *, times: int | None = 1) -> Rule:
        return self.add(path, DropAfter(n_bytes), times=times)

    def status(self, path: str, code: int, *, times: int | None = 1, method: str | None = "GET") -> Rule:
        return self.add(path, Status(code), method=method, times=times)

    def rate_limit(
        self, path: str, *, times: int = 1, retry_after: str | None = "1", method: str | None = "GET"
    ) -> Rule:
        return self.add(path, Status(429, retry_after), method=method, times=times)

    def corrupt(self, path: str, *, times: int | None = None) -> Rule:
        return self.add(path, Corrupt(), times=times)

    def truncate(self, path: str, n_bytes: int, *, times: int | None = None) -> Rule:
        return self.add(path, Truncate(n_bytes), times=times)

    def wrong_content_length(self, path: str, declared: int, *, times: int | None = None) -> Rule:
        return self.add(path, WrongContentLength(declared), times=times)

    def replace(
        self,
        path: str,
        body: bytes,
        content_type: str,
        *,
        method: str | None = None,
        times: int | None = None,
        digest: str | None = None,
    ) -> Rule:
        return self.add(path, Replace(body, content_type, digest=digest), method=method, times=times)

    def huge_manifest(self, path: str, size: int = 5 * 1024 * 1024, *, method: str | None = None) -> Rule:
        """A syntactically valid OCI manifest padded past ``size`` bytes."""
        padding = "x" * size
        body = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "annotations": {"padding": padding},
            }
        ).encode()
        return self.replace(path, body, "application/vnd.oci.image.manifest.v1+json", method=method)

    def schema1_manifest(self, path: str, *, method: str | None = None) -> Rule:
        body = json.dumps(
            {"schemaVersion": 1, "name": "x", "tag": "latest", "architecture": "amd64", "fsLayers": []}
        ).encode()
        return self.replace(path, body, SCHEMA1_SIGNED, method=method)

    def unknown_media_type(self, path: str, *, method: str | None = None) -> Rule:
        body = json.dumps({"schemaVersion": 2, "mediaType": "application/x-imgsrc-unknown"}).encode()
        return self.replace(path, body, "application/x-imgsrc-unknown", method=method)

    def redirect(self, path: str, base_url: str, *, times: int | None = None) -> Rule:
        return self.add(path, Redirect(base_url.rstrip("/")), times=times)

    def _match(self, method: str, path: str) -> Action | None:
        with self._lock:
            for rule in self._rules:
                if rule.method not in (None, method) or not rule.pattern.fullmatch(path):
                    continue
                if rule.times is not None and rule.hits >= rule.times:
                    continue
                rule.hits += 1
                return rule.action
        return None

    # --- log ------------------------------------------------------------------------------------------------

    @property
    def requests(self) -> list[ProxyRequest]:
        with self._lock:
            return list(self._log)

    def mark(self) -> int:
        with self._lock:
            return len(self._log)

    def requests_since(self, mark: int) -> list[ProxyRequest]:
        with self._lock:
            return list(self._log[mark:])

    def count(self, method: str, path: str, *, since: int = 0) -> int:
        """How many ``method`` requests fully matched the ``path`` pattern (after ``since``)."""
        pattern = re.compile(path)
        return sum(1 for r in self.requests_since(since) if r.method == method and pattern.fullmatch(r.path))

    def bytes_sent(self, path: str, *, method: str = "GET", since: int = 0) -> int:
        """Body bytes the proxy sent for matching requests (what the client actually received)."""
        pattern = re.compile(path)
        return sum(r.bytes_sent for r in self.requests_since(since) if r.method == method and pattern.fullmatch(r.path))

    def _record(self, entry: ProxyRequest) -> None:
        with self._lock:
            self._log.append(entry)


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    upstream = urlsplit(proxy.upstream)
    upstream_host, upstream_port = upstream.hostname or "127.0.0.1", upstream.port or 80

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 30
        # Buffer what we send so that a request is recorded before the client can see the end of its answer
        # (tests read the counts as soon as their request returns); the server flushes after each request.
        wbufsize = 1 << 16

        def log_message(self, format: str, *args: object) -> None:
            return

        def _read_request_body(self) -> bytes | None:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                parts = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        break
                    parts.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(parts)
            length = self.headers.get("Content-Length")
            if length is None:
                return None
            return self.rfile.read(int(length))

        def _cut(self) -> None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)

        def _handle(self) -> None:
            method = self.command
            path = urlsplit(self.path).path
            body = self._read_request_body()
            action = proxy._match(method, path)
            range_header = self.headers.get("Range")
            authorization = self.headers.get("Authorization") is not None

            def record(status: int, sent: int) -> None:
                proxy._record(ProxyRequest(method, path, status, sent, range_header, authorization, action))

            if isinstance(action, Status):
                self.send_response(action.code)
                if action.retry_after is not None:
                    self.send_header("Retry-After", action.retry_after)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(action.body)))
                self.end_headers()
                if method != "HEAD":
                    self.wfile.write(action.body)
                record(action.code, 0)
                return
            if isinstance(action, Redirect):
                self.send_response(307)
                self.send_header("Location", action.base_url + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()
                record(307, 0)
                return

            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            if body is not None:
                headers["Content-Length"] = str(len(body))
            conn = http.client.HTTPConnection(upstream_host, upstream_port, timeout=30)
            try:
                conn.request(method, self.path, body=body, headers=headers)
                response = conn.getresponse()
                sent, cut = self._relay(method, response, action)
            finally:
                conn.close()
            record(response.status, sent)
            if cut:
                self._cut()

        def _relay(self, method: str, response: http.client.HTTPResponse, action: Action | None) -> tuple[int, bool]:
            """Send ``response`` (changed by ``action``) to the client; returns the body bytes sent and
            whether the connection must now be cut."""
            out_headers = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
            declared = response.getheader("Content-Length")
            if isinstance(action, Replace):
                response.read()
                return self._send_replacement(method, action, out_headers), False
            if declared is None and method != "HEAD":
                # Upstream chose chunked framing: buffer it and re-frame with a length (small bodies only).
                data = response.read()
                self._start(response.status, _with_length(out_headers, len(data)))
                self.wfile.write(data)
                return len(data), False
            faulty = response.status < 300 and method == "GET"
            limit: int | None = None
            length = int(declared or 0)
            if faulty and isinstance(action, Truncate):
                limit = min(action.n_bytes, length)
                out_headers = _with_length(out_headers, limit)
            elif faulty and isinstance(action, WrongContentLength):
                limit = min(action.declared, length)
                out_headers = _with_length(out_headers, action.declared)
            elif faulty and isinstance(action, DropAfter):
                limit = action.n_bytes
            self._start(response.status, out_headers)
            if method == "HEAD":
                return 0, False
            sent = self._stream(response, limit, corrupt=faulty and isinstance(action, Corrupt))
            cut = isinstance(action, DropAfter) or (isinstance(action, WrongContentLength) and action.declared > sent)
            return sent, faulty and cut

        def _send_replacement(self, method: str, action: Replace, headers: list[tuple[str, str]]) -> int:
            digest = action.digest or "sha256:" + hashlib.sha256(action.body).hexdigest()
            replaced = ("content-length", "content-type", "docker-content-digest")
            out = [(k, v) for k, v in headers if k.lower() not in replaced]
            out += [
                ("Content-Type", action.content_type),
                ("Content-Length", str(len(action.body))),
                ("Docker-Content-Digest", digest),
            ]
            self._start(action.status, out)
            if method == "HEAD":
                return 0
            self.wfile.write(action.body)
            return len(action.body)

        def _stream(self, response: http.client.HTTPResponse, limit: int | None, *, corrupt: bool) -> int:
            sent = 0
            while limit is None or sent < limit:
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                if corrupt and sent == 0:
                    chunk = bytes([chunk[0] ^ 0xFF]) + chunk[1:]
                if limit is not None:
                    chunk = chunk[: limit - sent]
                try:
                    self.wfile.write(chunk)
                except OSError:
                    self.close_connection = True
                    break
                sent += len(chunk)
            return sent

        def _start(self, status: int, headers: list[tuple[str, str]]) -> None:
            self.send_response_only(status)
            for key, value in headers:
                if key.lower() not in ("server", "date"):
                    self.send_header(key, value)
            self.end_headers()

        do_GET = _handle
        do_HEAD = _handle
        do_POST = _handle
        do_PUT = _handle
        do_PATCH = _handle
        do_DELETE = _handle

    return Handler


def _with_length(headers: list[tuple[str, str]], length: int) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers if k.lower() != "content-length"] + [("Content-Length", str(length))]


@contextlib.contextmanager
def start_fault_proxy(upstream: str) -> Iterator[FaultProxy]:
    """Start a proxy in front of ``upstream`` (``http://127.0.0.1:<port>``) on a free loopback port."""
    proxy = FaultProxy(url="", host="", upstream=upstream.rstrip("/"))
    with serve_in_thread(_handler_for(proxy), "fault-proxy") as url:
        proxy.url, proxy.host = url, url.removeprefix("http://")
        yield proxy

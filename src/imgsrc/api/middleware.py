"""Request guards that run before routing (pure ASGI, so they see every request, including ones no route
matches): a request ID, the JSON content type of bodies, and the body size limit."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from imgsrc.api.errors import error_response
from imgsrc.errors import (
    ImgsrcError,
    InvalidArgumentError,
    InvalidContentTypeError,
    InvalidSyntaxError,
    MaxExceededError,
)

__all__ = ["RequestGuard"]

log = logging.getLogger(__name__)
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _nul_in_target(path: str, query_string: bytes) -> str | None:
    """NUL characters cannot be stored (PostgreSQL refuses them) and are never legitimate: the pointer of the
    first one in the path or query, or None."""
    if "\x00" in path:
        return "/path"
    if b"%00" in query_string or b"\x00" in query_string:
        for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
            if "\x00" in key or "\x00" in value:
                return f"/query/{key.replace(chr(0), '')}"
    return None


def _refuse_nul(body: bytes) -> None:
    """Raise with the pointer of the first string (or key) holding a NUL character, if any."""
    try:
        document = json.loads(body)
    except ValueError:
        return  # not JSON: the router will say so

    def walk(node: Any, pointer: str) -> None:
        if isinstance(node, str) and "\x00" in node:
            raise InvalidArgumentError("NUL characters are not allowed", source=pointer or "/")
        if isinstance(node, dict):
            for key, value in node.items():
                walk(key, pointer + "/" + key.replace("\x00", ""))
                walk(value, f"{pointer}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{pointer}/{index}")

    walk(document, "")


class RequestGuard:
    """Assigns ``X-Request-Id``; for ``/v1`` bodies (uploads excepted) requires a JSON content type (415) and
    buffers at most ``max_body`` bytes (422 ``max-exceeded`` beyond), whatever ``Content-Length`` claims."""

    def __init__(self, app: ASGIApp, *, max_body: int, streaming_paths: Callable[[str], bool]) -> None:
        self.app = app
        self.max_body = max_body
        self.streaming_paths = streaming_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        path: str = scope.get("path", "")
        nul = _nul_in_target(path, scope.get("query_string", b""))
        if nul is not None:
            await error_response(InvalidArgumentError("NUL characters are not allowed", source=nul))(
                scope, receive, send_with_id
            )
            return
        if scope.get("method") not in _BODY_METHODS or not path.startswith("/v1/") or self.streaming_paths(path):
            await self.app(scope, receive, send_with_id)
            return
        try:
            replay = await self._read_body(scope, receive)
        except ImgsrcError as exc:
            await error_response(exc)(scope, receive, send_with_id)
            return
        await self.app(scope, replay, send_with_id)

    async def _read_body(self, scope: Scope, receive: Receive) -> Receive:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                raise InvalidSyntaxError("invalid Content-Length")
            if int(declared) > self.max_body:
                raise MaxExceededError(f"the body may be at most {self.max_body} bytes", source="/")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise MaxExceededError(f"the body may be at most {self.max_body} bytes", source="/")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and not _is_json(headers.get("content-type", "")):
            raise InvalidContentTypeError("the body must be JSON (Content-Type: application/json)")
        if b"\\u0000" in body:
            _refuse_nul(body)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay

"""The one translation of errors into HTTP answers: the Cycle error envelope.

``{"error": {"status", "code", "title", "detail", "source", "extra"}, "data": null}``. Project errors carry their
code; request validation errors become ``422.missing-argument`` / ``422.invalid-argument`` (``400.invalid-syntax``
for broken JSON) with a JSON pointer to the field at fault; anything else is a logged ``500.unknown`` naming the
request ID, never a stack trace.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from imgsrc.errors import (
    ImgsrcError,
    InvalidArgumentError,
    InvalidSyntaxError,
    MissingArgumentError,
    NotFoundError,
    UnknownError,
)

__all__ = ["error_response", "install_error_handlers", "pointer_for"]

log = logging.getLogger(__name__)


def error_response(error: ImgsrcError, headers: dict[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"status": error.status, "code": error.code, "title": error.title, "detail": error.detail}
    if error.source is not None:
        body["source"] = error.source
    if error.extra:
        body["extra"] = error.extra
    return JSONResponse({"error": body, "data": None}, status_code=error.status, headers=headers)


def _escape(part: object) -> str:
    return str(part).replace("~", "~0").replace("/", "~1")


def pointer_for(loc: Sequence[object], body: Any) -> str:
    """A JSON pointer into the request body from a pydantic error location.

    Pydantic puts union tags (``docker-hub``) and validator names in locations; they are not keys of the document.
    Walking the location along the actual body tells them apart: an element that is not a key here, while the
    next element is, is a tag and is skipped. A missing final key is kept (it names the missing field).
    """
    parts: list[str] = []
    node = body
    items = list(loc)
    for index, item in enumerate(items):
        following = items[index + 1] if index + 1 < len(items) else None
        if isinstance(node, dict):
            if item in node:
                parts.append(_escape(item))
                node = node[item]
                continue
            if (following is not None and following in node) or (isinstance(item, str) and item in node.values()):
                continue  # a union tag (the value of the discriminator), not a key
            parts.append(_escape(item))
            node = None
        elif isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node):
            parts.append(str(item))
            node = node[item]
        elif isinstance(node, list | dict) or node is None:
            if isinstance(item, str) and (item.startswith(("function-", "json-or-python")) or "[" in item):
                continue
            parts.append(_escape(item))
            node = None
        else:
            continue  # a scalar: remaining items are type tags (``str``, ``int``…)
    return "/" + "/".join(parts) if parts else "/"


def _body_pointer(exc: RequestValidationError, loc: list[Any], kind: str) -> tuple[str, Any]:
    body = getattr(exc, "body", None)  # already parsed by FastAPI, unless it could not be
    if isinstance(body, bytes):
        try:
            body = json.loads(body)
        except ValueError:
            body = None
    pointer = pointer_for(loc[1:], body)
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        pointer = pointer.rstrip("/") + "/type"
    return pointer, body


def _validation_error(exc: RequestValidationError, request: Request) -> ImgsrcError:
    errors = exc.errors()
    first = errors[0] if errors else {}
    kind = str(first.get("type", ""))
    loc = list(first.get("loc", ()))
    where = loc[0] if loc else "body"
    body: Any = None
    if kind == "json_invalid":
        return InvalidSyntaxError("the body is not valid JSON")
    if where == "body":
        pointer, body = _body_pointer(exc, loc, kind)
    elif where in ("query", "path", "header"):
        pointer = f"/{where}/{loc[1]}" if len(loc) > 1 else f"/{where}"
    else:
        pointer = "/"
    message = str(first.get("msg", "invalid value"))
    if pointer == "/" and (kind == "missing" or (where == "body" and body is None)):
        return MissingArgumentError("a JSON body is required", source="/")
    if kind == "missing":
        return MissingArgumentError(f"{pointer}: this field is required", source=pointer)
    detail = f"{pointer}: unknown field" if kind == "extra_forbidden" else f"{pointer}: {message}"
    return InvalidArgumentError(detail, source=pointer)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ImgsrcError)
    async def _imgsrc(request: Request, exc: ImgsrcError) -> Response:
        if exc.status >= 500:
            log.error("request %s failed: %s", getattr(request.state, "request_id", "?"), exc.detail, exc_info=exc)
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return error_response(_validation_error(exc, request))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code in (404, 405):
            return error_response(NotFoundError(f"no endpoint {request.method} {request.url.path}", code="404.uri"))
        if exc.status_code == 400:
            return error_response(InvalidSyntaxError(str(exc.detail)))
        return error_response(InvalidArgumentError(str(exc.detail)))

    @app.exception_handler(Exception)
    async def _unknown(request: Request, exc: Exception) -> Response:
        request_id = getattr(request.state, "request_id", "?")
        log.error("request %s crashed", request_id, exc_info=exc)
        return error_response(UnknownError(f"internal error; request id {request_id}"))

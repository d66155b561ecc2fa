"""Success answers: the root document ``{"data": …, "includes"?: …}``, and its models for the OpenAPI document."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from imgsrc.wire import omitted

__all__ = ["ERROR_RESPONSES", "Envelope", "ErrorBody", "ErrorEnvelope", "respond"]

T = TypeVar("T")


class Envelope(BaseModel, Generic[T]):
    """Every success: ``data`` is the resource (or a list of them); ``includes`` holds related resources asked
    for with ``?include=``, each once, by kind and ID."""

    model_config = ConfigDict(extra="forbid")

    data: T
    includes: dict[str, dict[str, Any]] | None = omitted()


class ErrorBody(BaseModel):
    status: int
    code: str
    title: str
    detail: str | None = None
    source: str | None = None
    extra: dict[str, Any] | None = None


class ErrorEnvelope(BaseModel):
    error: ErrorBody
    data: None = Field(default=None)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorEnvelope, "description": text}
    for code, text in (
        (400, "Malformed request"),
        (401, "Missing or invalid API key"),
        (403, "Wrong hub, missing capability or ACL privilege, or a resource in the wrong state"),
        (404, "No such resource in this hub"),
        (415, "The body is not JSON"),
        (422, "Invalid or missing argument"),
        (500, "Internal error"),
    )
}


def respond(
    data: Any,
    *,
    status: int = 200,
    includes: dict[str, dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Serialise a model (or list of models) inside the root document."""
    envelope = Envelope[Any](data=data, includes=includes)
    return Response(
        envelope.model_dump_json(),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )

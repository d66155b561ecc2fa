"""Errors the SDK raises on its own, and the translation of the server's error envelope into the project's tree.

An error answer ``{"error": {"code": "404.image.source", ...}}`` becomes the class
:func:`imgsrc.errors.error_class_for_code` names, with the same ``detail``, ``title``, ``source`` and ``extra``, so
client code catches :class:`~imgsrc.errors.NotFoundError` exactly as server code does. Failures that never reached
an answer are :class:`ClientConnectionError`. No message built here contains a credential: the API key only ever
travels in a request header, and answer bodies are never quoted into messages (a key-creation answer holds a
secret).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from imgsrc.errors import ImgsrcError, NotReadyError, error_class_for_code

if TYPE_CHECKING:
    from imgsrc.jobs.schemas import Job

__all__ = [
    "ClientConnectionError",
    "ConfigurationError",
    "JobFailedError",
    "JobTimeoutError",
    "UnexpectedResponseError",
    "error_from_answer",
]

# Codes for error answers that carry no envelope (a proxy's 502 page, say): the closest code of the status.
_CODE_OF_STATUS = {
    400: "400.invalid-syntax",
    401: "401.auth-invalid",
    403: "403.permissions",
    404: "404.uri",
    409: "409.duplicate-found",
    415: "415.invalid-content-type",
    422: "422.invalid-argument",
    429: "429.rate-limiting",
    502: "503.not-ready",
    503: "503.not-ready",
    504: "503.not-ready",
}


class ClientConnectionError(NotReadyError):
    """The server could not be reached or the exchange broke off (refused connection, DNS failure, timeout,
    dropped connection). Nothing is known about whether a non-idempotent request took effect."""

    default_title = "Server unreachable"


class UnexpectedResponseError(ImgsrcError):
    """The server answered something that is not the documented wire format (not JSON, or not the expected
    resource): usually a proxy in the way, or a server of another version."""

    default_code = "500.unknown"
    default_title = "Unexpected response"


class ConfigurationError(ImgsrcError):
    """The client is not configured well enough to make a call: a malformed base URL, a missing or unreadable
    bootstrap file."""

    default_code = "422.missing-argument"
    default_title = "Client configuration"


class JobFailedError(ImgsrcError):
    """A waited-for job ended in ``error`` or ``expired``. ``detail`` is the job's own message; ``job`` is the job
    as last read."""

    default_code = "500.unknown"
    default_title = "Job failed"

    def __init__(self, detail: str, *, job: Job, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.job = job


class JobTimeoutError(ImgsrcError):
    """A job did not finish within the time the caller was willing to wait; it may still finish later. ``job`` is
    the job as last read (``None`` if it could not be read at all)."""

    default_code = "503.not-ready"
    default_title = "Job still running"

    def __init__(self, detail: str, *, job: Job | None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.job = job


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def error_from_answer(status: int, body: object) -> ImgsrcError:
    """The exception for an error answer: from its envelope when it has one, else from the HTTP status alone."""
    envelope = body.get("error") if isinstance(body, dict) else None
    if not isinstance(envelope, dict) or not _text(envelope.get("code")):
        code = _CODE_OF_STATUS.get(status, "500.unknown")
        return error_class_for_code(code)(f"the server answered HTTP {status} without an error document", code=code)
    code = str(envelope["code"])
    title = _text(envelope.get("title"))
    detail = _text(envelope.get("detail")) or title or code
    source = _text(envelope.get("source"))
    extra = envelope.get("extra")
    cls = error_class_for_code(code)
    try:
        return cls(detail, code=code, title=title, source=source, extra=extra if isinstance(extra, dict) else None)
    except TypeError:  # a subclass whose constructor takes other arguments: keep the code, lose the class
        return ImgsrcError(detail, code=code, title=title, source=source)

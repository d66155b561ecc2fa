"""Errors of ``/v2`` in the distribution spec's format, never the Cycle envelope.

``{"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown to registry", "detail": "…"}]}``.

Code under ``/v2`` raises the project's own errors; :func:`oci_error_for` translates them once, here. The
distribution code is chosen by, in order: an explicit ``extra["oci_code"]`` set at the raise site (for the
validation errors only the HTTP layer can name: ``NAME_INVALID``, ``TAG_INVALID``…), the Cycle code of
not-found errors (``404.image.source`` → ``NAME_UNKNOWN``, ``404.image`` → ``MANIFEST_UNKNOWN``,
``404.image.blob`` → ``BLOB_UNKNOWN``), then the status family (401 → ``UNAUTHORIZED``, 403 → ``DENIED``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from fastapi.responses import JSONResponse, Response

from imgsrc.errors import ImgsrcError

__all__ = ["API_VERSION_HEADER", "MESSAGES", "OCI_CODE", "oci_error", "oci_error_for"]

log = logging.getLogger(__name__)

API_VERSION_HEADER: Final = ("Docker-Distribution-API-Version", "registry/2.0")
"""Sent on every ``/v2`` answer: Docker clients look for it on ``GET /v2/`` to recognise a registry."""

OCI_CODE: Final = "oci_code"
"""The key of ``ImgsrcError.extra`` that names the distribution error code explicitly."""

MESSAGES: Final[Mapping[str, str]] = {
    "BLOB_UNKNOWN": "blob unknown to registry",
    "DIGEST_INVALID": "provided digest did not match uploaded content",
    "MANIFEST_UNKNOWN": "manifest unknown to registry",
    "NAME_INVALID": "invalid repository name",
    "NAME_UNKNOWN": "repository name not known to registry",
    "TAG_INVALID": "manifest tag did not match URI",
    "UNAUTHORIZED": "authentication required",
    "DENIED": "requested access to the resource is denied",
    "UNSUPPORTED": "the operation is unsupported",
    "RANGE_INVALID": "invalid content range",
    "PAGINATION_NUMBER_INVALID": "invalid number of results requested",
    "UNKNOWN": "unknown error",
}

_NOT_FOUND: Final[Mapping[str, str]] = {
    "404.image.source": "NAME_UNKNOWN",
    "404.image": "MANIFEST_UNKNOWN",
    "404.image.blob": "BLOB_UNKNOWN",
}

_BY_STATUS: Final[Mapping[int, str]] = {401: "UNAUTHORIZED", 403: "DENIED", 429: "TOOMANYREQUESTS"}


def oci_error(status: int, code: str, detail: Any = None, *, headers: Mapping[str, str] | None = None) -> Response:
    """One distribution-spec error answer. ``detail`` must never hold a secret (it is sent as is)."""
    entry: dict[str, Any] = {"code": code, "message": MESSAGES.get(code, code.lower().replace("_", " "))}
    if detail is not None:
        entry["detail"] = detail
    return JSONResponse({"errors": [entry]}, status_code=status, headers=dict(headers or {}))


def oci_error_for(exc: ImgsrcError) -> tuple[int, str]:
    """The HTTP status and distribution code standing for a project error."""
    explicit = exc.extra.get(OCI_CODE)
    if isinstance(explicit, str):
        return exc.status, explicit
    status = exc.status
    if status == 404:
        return 404, _NOT_FOUND.get(exc.code, "NAME_UNKNOWN")
    if status >= 500:
        return status, "UNKNOWN"
    if status in _BY_STATUS:
        return status, _BY_STATUS[status]
    return 400, "UNSUPPORTED"

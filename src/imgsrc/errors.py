"""The one exception tree of imgsrc.

Every error the project raises on purpose is an :class:`ImgsrcError` carrying a stable Cycle error code
(``"404.image.source"``). The HTTP status is the code's numeric prefix, so one table (this module) decides how
an error looks on the wire; the API layer only renders it. The SDK raises the same classes, chosen by code, so
``except NotFoundError`` works the same in server code and in client code.

Factory failures (a registry that answers wrongly, a build that fails, a hostile archive) are errors of the same
tree: they are recorded on jobs and images by their message, and if one ever surfaces in an HTTP answer it
already has a sensible code.

This module imports nothing from the rest of the package: the SDK depends on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = [
    "ArchiveError",
    "ArchiveLimitError",
    "AuthExpiredError",
    "AuthInvalidError",
    "BuildError",
    "CancelledError",
    "ConflictError",
    "DatabaseError",
    "DuplicateFoundError",
    "ImgsrcError",
    "IntegrityError",
    "InvalidArgumentError",
    "InvalidContentTypeError",
    "InvalidInputError",
    "InvalidStateError",
    "InvalidSyntaxError",
    "MaxExceededError",
    "MissingArgumentError",
    "NotCompatibleError",
    "NotFoundError",
    "NotReadyError",
    "PermissionsError",
    "RateLimitedError",
    "RegistryError",
    "UnknownError",
    "UpstreamAuthError",
    "UpstreamNotFoundError",
    "WrongHubError",
    "error_class_for_code",
]


class ImgsrcError(Exception):
    """Base of every deliberate error.

    ``code`` is the Cycle error code; ``title`` a short constant text for the code; ``detail`` the specific
    message; ``source`` a JSON pointer into the request body (or ``/query/<name>``) when one field is at fault;
    ``extra`` machine-readable additions (``{"capability": "images-view"}``).
    """

    default_code: ClassVar[str] = "500.unknown"
    default_title: ClassVar[str] = "Internal error"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        title: str | None = None,
        source: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.title = title or self.default_title
        self.source = source
        self.extra: dict[str, Any] = dict(extra or {})

    @property
    def status(self) -> int:
        """The HTTP status: the numeric prefix of the code."""
        return int(self.code.split(".", 1)[0])

    def __str__(self) -> str:
        return self.detail

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, detail={self.detail!r}, source={self.source!r})"


# --- 400 / 401 / 403 -------------------------------------------------------------------------------------------


class InvalidSyntaxError(ImgsrcError):
    default_code = "400.invalid-syntax"
    default_title = "Invalid syntax"


class AuthInvalidError(ImgsrcError):
    default_code = "401.auth-invalid"
    default_title = "Invalid authentication"


class AuthExpiredError(ImgsrcError):
    default_code = "401.auth-expired"
    default_title = "Authentication expired"


class WrongHubError(ImgsrcError):
    default_code = "403.wrong-hub"
    default_title = "Wrong hub"


class PermissionsError(ImgsrcError):
    """The key lacks a capability (``extra.capability`` names it) or the ACL privilege the action needs."""

    default_code = "403.permissions"
    default_title = "Insufficient permissions"

    def __init__(self, detail: str, *, capability: str | None = None, **kwargs: Any) -> None:
        extra = dict(kwargs.pop("extra", None) or {})
        if capability is not None:
            extra["capability"] = capability
        super().__init__(detail, extra=extra, **kwargs)


class InvalidStateError(ImgsrcError):
    default_code = "403.invalid-state"
    default_title = "Invalid state"


# --- 404 / 409 / 415 -------------------------------------------------------------------------------------------


class NotFoundError(ImgsrcError):
    """A resource that does not exist, or that the caller's hub cannot see (the two are indistinguishable)."""

    default_code = "404.uri"
    default_title = "Not found"


class DuplicateFoundError(ImgsrcError):
    default_code = "409.duplicate-found"
    default_title = "Duplicate found"


ConflictError = DuplicateFoundError


class InvalidContentTypeError(ImgsrcError):
    default_code = "415.invalid-content-type"
    default_title = "Invalid content type"


# --- 422 -------------------------------------------------------------------------------------------------------


class MissingArgumentError(ImgsrcError):
    default_code = "422.missing-argument"
    default_title = "Missing argument"


class InvalidArgumentError(ImgsrcError):
    default_code = "422.invalid-argument"
    default_title = "Invalid argument"


class InvalidInputError(ImgsrcError):
    default_code = "422.invalid-input"
    default_title = "Invalid input"


class MaxExceededError(ImgsrcError):
    default_code = "422.max-exceeded"
    default_title = "Maximum exceeded"


class NotCompatibleError(ImgsrcError):
    default_code = "422.not-compatible"
    default_title = "Not compatible"


# --- 429 / 5xx -------------------------------------------------------------------------------------------------


class RateLimitedError(ImgsrcError):
    default_code = "429.rate-limiting"
    default_title = "Rate limited"


class DatabaseError(ImgsrcError):
    default_code = "500.database"
    default_title = "Database error"


class UnknownError(ImgsrcError):
    default_code = "500.unknown"
    default_title = "Internal error"


class NotReadyError(ImgsrcError):
    default_code = "503.not-ready"
    default_title = "Not ready"


# --- factory failures (recorded on jobs and images) -------------------------------------------------------------


class RegistryError(ImgsrcError):
    """An upstream registry answered in a way the import cannot use (a transfer that failed for good, a manifest
    that is malformed, of an unsupported media type or too large)."""

    default_code = "422.not-compatible"
    default_title = "Registry error"


class UpstreamAuthError(RegistryError):
    """The upstream refused the credentials (or they could not be obtained: webhook, ECR)."""

    default_title = "Upstream authentication failed"


class UpstreamNotFoundError(RegistryError):
    """The upstream has no such repository, tag or blob."""

    default_title = "Not found upstream"


class IntegrityError(ImgsrcError):
    """Content that does not match what was declared: a digest or size mismatch, a truncated blob."""

    default_code = "422.invalid-input"
    default_title = "Integrity check failed"


class ArchiveError(ImgsrcError):
    """An archive (build context or upload) that is malformed, hostile or over a limit."""

    default_code = "422.invalid-input"
    default_title = "Invalid archive"


class ArchiveLimitError(ArchiveError):
    """An archive over a configured limit (bytes unpacked, entries): ``422.max-exceeded``."""

    default_code = "422.max-exceeded"
    default_title = "Archive over a limit"


class BuildError(ImgsrcError):
    """A build that failed: the context could not be fetched, or the builder exited non-zero."""

    default_code = "422.invalid-input"
    default_title = "Build failed"


class CancelledError(ImgsrcError):
    """The work was cancelled (its image deleted, its job cancelled, or the server shutting down)."""

    default_code = "403.invalid-state"
    default_title = "Cancelled"


_BY_CODE: dict[str, type[ImgsrcError]] = {
    cls.default_code: cls
    for cls in (
        InvalidSyntaxError,
        AuthInvalidError,
        AuthExpiredError,
        WrongHubError,
        PermissionsError,
        InvalidStateError,
        DuplicateFoundError,
        InvalidContentTypeError,
        MissingArgumentError,
        InvalidArgumentError,
        InvalidInputError,
        MaxExceededError,
        NotCompatibleError,
        RateLimitedError,
        DatabaseError,
        UnknownError,
        NotReadyError,
    )
}


def error_class_for_code(code: str) -> type[ImgsrcError]:
    """The exception class that stands for a Cycle error code (``404.*`` codes are all :class:`NotFoundError`)."""
    if code.startswith("404."):
        return NotFoundError
    return _BY_CODE.get(code, ImgsrcError)

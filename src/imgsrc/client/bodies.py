"""Building request bodies from the shared wire models, checked before anything is sent.

A request that the wire model refuses fails here with the same error the server would answer
(:class:`~imgsrc.errors.InvalidArgumentError` or :class:`~imgsrc.errors.MissingArgumentError`, with a JSON pointer
into the body as ``source``), so client code handles both the same way. Messages carry the location and the rule,
never the offending value: it may be a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

from imgsrc.errors import ImgsrcError, InvalidArgumentError, MissingArgumentError

__all__ = ["body_of", "build", "segment"]

M = TypeVar("M", bound=BaseModel)


def _escape(part: object) -> str:
    return str(part).replace("~", "~0").replace("/", "~1")


def _pointer(loc: tuple[int | str, ...], data: Any) -> str:
    """A JSON pointer from a pydantic location, walked along the data so that union tags (``docker-hub``) and
    validator names, which are not keys of the document, are left out."""
    parts: list[str] = []
    node = data
    for index, item in enumerate(loc):
        following = loc[index + 1] if index + 1 < len(loc) else None
        if isinstance(node, Mapping):
            if item in node:
                parts.append(_escape(item))
                node = node[item]
            elif following is not None and following in node:
                continue  # a tag
            else:
                parts.append(_escape(item))
                node = None
        elif isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node):
            parts.append(str(item))
            node = node[item]
        elif node is None:
            parts.append(_escape(item))
    return "/" + "/".join(parts)


def _as_error(exc: ValidationError, data: Any) -> ImgsrcError:
    first = exc.errors(include_url=False, include_input=False, include_context=False)[0]
    pointer = _pointer(tuple(first["loc"]), data)
    if first["type"] == "missing":
        return MissingArgumentError(f"{pointer}: this field is required", source=pointer)
    if first["type"] == "extra_forbidden":
        return InvalidArgumentError(f"{pointer}: unknown field", source=pointer)
    return InvalidArgumentError(f"{pointer}: {first['msg']}", source=pointer)


def _plain(value: Any) -> Any:
    """Models inside keyword arguments become plain data, so that one validation pass sees everything."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_unset=True)
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def build(model: type[M], fields: Mapping[str, Any]) -> M:
    """Validate ``fields`` into the request model; refusals become the project's 422 errors."""
    data = _plain(dict(fields))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _as_error(exc, data) from None


def body_of(request: BaseModel) -> dict[str, Any]:
    """The JSON body of a request model: only the fields that were set (so a PATCH changes only those)."""
    return request.model_dump(mode="json", exclude_unset=True)


def segment(value: str) -> str:
    """One path segment (an ID or identifier), percent-encoded. Values that a URL or the server would turn into
    another path (``..``, anything with ``/``, which servers decode before routing) are refused: no ID or
    identifier looks like that, and sending them would call a different endpoint."""
    if value in ("", ".", "..") or "/" in value or "\\" in value:
        raise InvalidArgumentError(f"{value[:64]!r} is not an ID or identifier")
    return quote(value, safe="")

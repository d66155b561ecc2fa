"""List results and list query parameters, in the syntax every collection endpoint understands (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Generic, TypeVar

__all__ = ["Page", "Params", "list_params", "next_page"]

T = TypeVar("T")
Params = list[tuple[str, str]]
Values = str | Sequence[str] | None


class Page(list[T], Generic[T]):
    """One page of a collection: a plain list of resources, plus ``total`` (the server's ``X-Total-Count``: how
    many match across all pages, ``None`` if not sent) and ``includes`` (related resources asked for with
    ``include=``, by kind and ID)."""

    def __init__(
        self, items: Iterable[T] = (), *, total: int | None = None, includes: dict[str, dict[str, Any]] | None = None
    ) -> None:
        super().__init__(items)
        self.total = total
        self.includes: dict[str, dict[str, Any]] = includes or {}

    def __repr__(self) -> str:
        return f"Page({list.__repr__(self)}, total={self.total!r})"


def _joined(values: Values) -> str | None:
    if values is None:
        return None
    items = [values] if isinstance(values, str) else [str(v) for v in values]
    text = ",".join(item.strip() for item in items if item.strip())
    return text or None


def list_params(
    *,
    filters: dict[str, Values] | None = None,
    sort: Values = None,
    page: int | None = None,
    page_size: int | None = None,
    include: Values = None,
    meta: Values = None,
) -> Params:
    """Query parameters: ``filter[key]`` (several values comma-separated), ``sort`` (``-`` for descending),
    ``page[number]`` and ``page[size]``, ``include`` and ``meta``. Unset values are left out; the server
    validates the rest (page sizes above 100 are its 422, not ours)."""
    params: Params = []
    for key, value in (filters or {}).items():
        text = _joined(value)
        if text is not None:
            params.append((f"filter[{key}]", text))
    for key, value in (("sort", sort), ("include", include), ("meta", meta)):
        text = _joined(value)
        if text is not None:
            params.append((key, text))
    if page is not None:
        params.append(("page[number]", str(page)))
    if page_size is not None:
        params.append(("page[size]", str(page_size)))
    return params


def next_page(current: int, got: int, page_size: int, seen: int, total: int | None) -> int | None:
    """The page to fetch after ``current`` while iterating, or ``None`` when done: a short or empty page ends
    the collection, and so does having seen ``total`` items."""
    if got == 0 or got < page_size:
        return None
    if total is not None and seen >= total:
        return None
    return current + 1

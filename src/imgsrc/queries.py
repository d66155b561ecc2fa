"""The SQL side of list queries (:mod:`imgsrc.listing` parses them): state filters, text search, sort and pages,
the same way for every collection."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from imgsrc.errors import InvalidArgumentError
from imgsrc.listing import ListQuery

__all__ = ["filter_states", "page_of", "search"]


def filter_states(stmt: Select[Any], column: Any, query: ListQuery, known: Collection[str]) -> Select[Any]:
    """``filter[state]`` (each value one of ``known``); without it, everything but ``deleted``."""
    states = query.filters.get("state")
    if not states:
        return stmt.where(column != "deleted")
    for value in states:
        if value not in known:
            raise InvalidArgumentError(f"unknown state `{value}`", source="/query/filter[state]")
    return stmt.where(column.in_(states))


def search(stmt: Select[Any], query: ListQuery, columns: Sequence[Any]) -> Select[Any]:
    """``filter[search]``: a case-insensitive substring of any of ``columns`` (``%`` and ``_`` taken literally)."""
    text = query.first("search")
    if not text:
        return stmt
    needle = text.lower()
    return stmt.where(or_(*(func.lower(column).contains(needle, autoescape=True) for column in columns)))


def page_of(
    session: Session, stmt: Select[Any], query: ListQuery, sort_keys: Mapping[str, Any], tiebreak: Any
) -> tuple[list[Any], int]:
    """One page of ``stmt`` in the order ``sort`` asks (``tiebreak`` descending last, so pages never overlap),
    and the total number of matches."""
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    order: list[Any] = [sort_keys[key].desc() if descending else sort_keys[key].asc() for key, descending in query.sort]
    order.append(tiebreak.desc())
    rows = list(session.scalars(stmt.order_by(*order).offset(query.offset).limit(query.page_size)))
    return rows, total

"""List queries: filters, sort and pages as every collection endpoint understands them (pure).

The official Cycle clients disagree on query syntax, so all forms are accepted: ``include=a,b`` and
``include=a&include=b``; ``filter[state]=live,deleting``; ``sort=name,-id``; ``page[number]`` (1-based) and
``page[size]`` (default 20, at most 100); brackets raw or percent-encoded (the HTTP layer decodes them).
Errors name the parameter at fault with a ``/query/<name>`` pointer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from imgsrc.errors import InvalidArgumentError, MaxExceededError

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "ListQuery", "parse_list_query", "split_values"]

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
_BRACKET = re.compile(r"^(filter|page)\[([A-Za-z0-9_\-.]+)\]$")
_MAX_PARAMS = 200
_MAX_VALUES = 100
_MAX_VALUE_LEN = 1024
_MAX_PAGE_NUMBER = 1_000_000


def split_values(values: Iterable[str]) -> list[str]:
    """Repeated and comma-separated values, flattened, stripped, empties dropped, order kept, duplicates removed."""
    out: list[str] = []
    for value in values:
        for raw in value.split(","):
            part = raw.strip()
            if part and part not in out:
                out.append(part)
    return out


@dataclass(frozen=True)
class ListQuery:
    filters: dict[str, list[str]] = field(default_factory=dict)
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (key, descending)
    page_number: int = 1
    page_size: int = DEFAULT_PAGE_SIZE
    include: frozenset[str] = frozenset()
    meta: frozenset[str] = frozenset()

    @property
    def offset(self) -> int:
        return (self.page_number - 1) * self.page_size

    def first(self, name: str) -> str | None:
        values = self.filters.get(name)
        return values[0] if values else None


def _int_param(name: str, raw: str, *, minimum: int, maximum: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise InvalidArgumentError(f"`{name}` must be an integer", source=f"/query/{name}") from None
    if value < minimum:
        raise InvalidArgumentError(f"`{name}` must be at least {minimum}", source=f"/query/{name}")
    if value > maximum:
        raise MaxExceededError(f"`{name}` may be at most {maximum}", source=f"/query/{name}")
    return value


def _names(key: str, value: str, allowed: set[str], what: str) -> list[str]:
    items = split_values([value])
    for item in items:
        if item not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise InvalidArgumentError(f"unknown {what} `{item}` (known: {known})", source=f"/query/{key}")
    return items


@dataclass
class _Builder:
    filters: Mapping[str, bool]
    sort_keys: set[str]
    includes: set[str]
    metas: set[str]
    parsed_filters: dict[str, list[str]] = field(default_factory=dict)
    sort: list[tuple[str, bool]] = field(default_factory=list)
    include: set[str] = field(default_factory=set)
    meta: set[str] = field(default_factory=set)
    page_number: int = 1
    page_size: int = DEFAULT_PAGE_SIZE

    def add(self, key: str, value: str) -> None:
        if len(value) > _MAX_VALUE_LEN:
            raise MaxExceededError(f"`{key}` is too long", source=f"/query/{key}")
        match = _BRACKET.match(key)
        if match and match.group(1) == "filter":
            self._filter(key, match.group(2), value)
        elif match:
            self._page(key, match.group(2), value)
        elif key == "sort":
            for item in split_values([value]):
                name = item[1:] if item[0] in "+-" else item
                _names(key, name, self.sort_keys, "sort key")
                self.sort.append((name, item.startswith("-")))
        elif key == "include":
            self.include.update(_names(key, value, self.includes, "include"))
        elif key == "meta":
            self.meta.update(_names(key, value, self.metas, "meta"))

    def _filter(self, key: str, name: str, value: str) -> None:
        if name not in self.filters:
            raise InvalidArgumentError(f"unknown filter `{name}`", source=f"/query/{key}")
        values = split_values([value]) if self.filters[name] else ([value] if value else [])
        bucket = self.parsed_filters.setdefault(name, [])
        bucket.extend(v for v in values if v not in bucket)
        if len(bucket) > _MAX_VALUES:
            raise MaxExceededError(f"too many values for filter `{name}`", source=f"/query/{key}")

    def _page(self, key: str, name: str, value: str) -> None:
        if name == "number":
            self.page_number = _int_param(key, value, minimum=1, maximum=_MAX_PAGE_NUMBER)
        elif name == "size":
            self.page_size = _int_param(key, value, minimum=1, maximum=MAX_PAGE_SIZE)
        else:
            raise InvalidArgumentError(f"unknown page parameter `{name}`", source=f"/query/{key}")


def parse_list_query(
    params: Sequence[tuple[str, str]],
    *,
    filters: Mapping[str, bool],
    sort_keys: Iterable[str],
    includes: Iterable[str] = (),
    metas: Iterable[str] = (),
) -> ListQuery:
    """Parse query parameters (already percent-decoded, in order, repeated keys kept).

    ``filters`` maps each accepted filter to whether it takes several comma-separated values. Unknown filters,
    sort keys, includes and metas are a 422 naming the parameter, so a typo never silently widens a result.
    Parameters this module does not own (``hub-id``, …) are ignored.
    """
    if len(params) > _MAX_PARAMS:
        raise MaxExceededError("too many query parameters", source="/query")
    builder = _Builder(filters=filters, sort_keys=set(sort_keys), includes=set(includes), metas=set(metas))
    for key, value in params:
        builder.add(key, value)
    return ListQuery(
        filters=builder.parsed_filters,
        sort=builder.sort,
        page_number=builder.page_number,
        page_size=builder.page_size,
        include=frozenset(builder.include),
        meta=frozenset(builder.meta),
    )

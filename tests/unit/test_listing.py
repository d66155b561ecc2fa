"""Query parsing: every syntax the official clients use, and clear errors for the rest."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgsrc.errors import InvalidArgumentError, MaxExceededError
from imgsrc.listing import parse_list_query, split_values

FILTERS = {"state": True, "search": False}


def parse(params: list[tuple[str, str]]):  # type: ignore[no-untyped-def]
    return parse_list_query(params, filters=FILTERS, sort_keys=["id", "name"], includes=["creators"], metas=["m"])


def test_repeated_and_comma_separated_lists_are_the_same() -> None:
    a = parse([("include", "creators"), ("filter[state]", "live,deleting"), ("sort", "name,-id")])
    b = parse(
        [
            ("include", "creators"),
            ("filter[state]", "live"),
            ("filter[state]", "deleting"),
            ("sort", "name"),
            ("sort", "-id"),
        ]
    )
    assert a == b
    assert a.filters == {"state": ["live", "deleting"]}
    assert a.sort == [("name", False), ("id", True)]


def test_search_keeps_commas() -> None:
    assert parse([("filter[search]", "a,b")]).filters == {"search": ["a,b"]}


def test_pages() -> None:
    query = parse([("page[number]", "3"), ("page[size]", "10")])
    assert (query.offset, query.page_size) == (20, 10)
    with pytest.raises(MaxExceededError):
        parse([("page[size]", "101")])
    with pytest.raises(InvalidArgumentError):
        parse([("page[size]", "-1")])


@given(st.lists(st.tuples(st.text(max_size=20), st.text(max_size=40)), max_size=30))
def test_any_query_parses_or_fails_with_a_pointer(params: list[tuple[str, str]]) -> None:
    try:
        query = parse(params)
    except (InvalidArgumentError, MaxExceededError) as exc:
        assert exc.source is not None
        assert exc.source.startswith("/query")
    else:
        assert 1 <= query.page_size <= 100
        assert set(query.include) <= {"creators"}


@given(st.lists(st.text(alphabet="abc,", max_size=10), max_size=5))
def test_split_values_flattens_and_deduplicates(values: list[str]) -> None:
    out = split_values(values)
    assert len(out) == len(set(out))
    assert all(v and "," not in v for v in out)

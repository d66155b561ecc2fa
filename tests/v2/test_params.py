"""The pure parsing of /v2 requests: byte ranges (RFC 9110), tag pages, names, references and digests."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgsrc.api.v2.params import (
    MAX_PAGE,
    ByteRange,
    check_digest,
    check_name,
    page_of,
    parse_page_size,
    parse_range,
    parse_reference,
)
from imgsrc.errors import ImgsrcError, InvalidArgumentError, InvalidSyntaxError

DIGEST = "sha256:" + "ab" * 32


def oci_code(exc: ImgsrcError) -> str:
    return str(exc.extra["oci_code"])


# --- ranges ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-0", 10, (0, 1)),
        ("bytes=2-5", 10, (2, 6)),
        ("bytes=2-", 10, (2, 10)),
        ("bytes=2-999", 10, (2, 10)),
        ("bytes=-3", 10, (7, 10)),
        ("bytes=-30", 10, (0, 10)),
        ("BYTES = 1 - 2", 10, (1, 3)),
    ],
)
def test_a_single_byte_range_selects_those_bytes(header: str, size: int, expected: tuple[int, int]) -> None:
    assert parse_range(header, size) == ByteRange(*expected, size)


@pytest.mark.parametrize("header", [None, "items=0-5", "bytes=0-1,4-5", "garbage"])
def test_absent_foreign_unit_or_multiple_ranges_send_the_whole_blob(header: str | None) -> None:
    assert parse_range(header, 10) is None


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=11-20", "bytes=5-2", "bytes=-0", "bytes=-", "bytes=a-b"])
def test_unsatisfiable_or_malformed_byte_ranges_are_416_range_invalid(header: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        parse_range(header, 10)
    assert caught.value.status == 416
    assert oci_code(caught.value) == "RANGE_INVALID"
    assert caught.value.extra["size"] == 10


def test_any_range_of_an_empty_blob_is_unsatisfiable() -> None:
    with pytest.raises(InvalidArgumentError):
        parse_range("bytes=0-", 0)


@given(size=st.integers(0, 10_000), start=st.integers(0, 12_000), end=st.integers(0, 12_000) | st.none())
def test_every_satisfiable_range_lies_inside_the_blob_and_is_never_empty(
    size: int, start: int, end: int | None
) -> None:
    header = f"bytes={start}-{'' if end is None else end}"
    try:
        wanted = parse_range(header, size)
    except InvalidArgumentError:
        assert start >= size or (end is not None and end < start)
        return
    assert wanted is not None
    assert 0 <= wanted.start < wanted.end <= size
    assert wanted.start == start
    assert wanted.end == min(size, size if end is None else end + 1)
    assert wanted.content_range == f"bytes {wanted.start}-{wanted.end - 1}/{size}"


@given(header=st.text(max_size=40), size=st.integers(0, 1000))
def test_any_range_header_is_answered_without_crashing(header: str, size: int) -> None:
    try:
        wanted = parse_range(header, size)
    except InvalidArgumentError as exc:
        assert exc.status == 416
        return
    assert wanted is None or 0 <= wanted.start < wanted.end <= size


# --- tag pages ---------------------------------------------------------------------------------------------

TAGS = sorted(["0a", "0b", "1c", "ff", "latest"])


def test_without_n_every_tag_after_last_is_listed() -> None:
    assert page_of(TAGS, None, None) == (TAGS, False)
    assert page_of(TAGS, None, "0b") == (["1c", "ff", "latest"], False)


def test_n_zero_is_an_empty_page_with_nothing_following() -> None:
    assert page_of(TAGS, 0, None) == ([], False)


def test_n_limits_the_page_and_says_more_follow() -> None:
    assert page_of(TAGS, 2, None) == (["0a", "0b"], True)
    assert page_of(TAGS, 2, "0b") == (["1c", "ff"], True)
    assert page_of(TAGS, 2, "ff") == (["latest"], False)
    assert page_of(TAGS, 5, None) == (TAGS, False)


def test_a_huge_n_is_capped_and_the_rest_follows() -> None:
    many = sorted(f"{i:05d}" for i in range(MAX_PAGE + 5))
    page, more = page_of(many, 10**8, None)
    assert len(page) == MAX_PAGE
    assert more


@given(tags=st.lists(st.text("0123456789abcdef", min_size=1, max_size=4), unique=True), n=st.integers(1, 7))
def test_following_pages_visits_every_tag_once_in_order(tags: list[str], n: int) -> None:
    tags = sorted(tags)
    seen: list[str] = []
    last: str | None = None
    while True:
        page, more = page_of(tags, n, last)
        assert len(page) <= n
        seen += page
        if not more:
            break
        assert len(page) == n
        last = page[-1]
    assert seen == tags


@pytest.mark.parametrize("value", ["-1", "x", "1.5", "", "\u0661"])
def test_n_must_be_a_non_negative_integer(value: str) -> None:
    with pytest.raises(InvalidSyntaxError) as caught:
        parse_page_size(value)
    assert oci_code(caught.value) == "PAGINATION_NUMBER_INVALID"


# --- names, references, digests ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["hub/source", "6a0f0000aaaaaaaaaaaaaaaa/my-app", "a/b.c/d__e"])
def test_names_of_the_spec_grammar_are_accepted(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["Hub/source", "hub//source", "hub/source/", "-a/b", "a/" + "b" * 300, "a b"])
def test_other_names_are_name_invalid(name: str) -> None:
    with pytest.raises(InvalidSyntaxError) as caught:
        check_name(name)
    assert oci_code(caught.value) == "NAME_INVALID"


def test_references_are_tags_or_digests() -> None:
    assert parse_reference("latest").kind == "tag"
    assert parse_reference(DIGEST).kind == "digest"
    assert parse_reference(DIGEST).stored
    assert not parse_reference("sha512:" + "a" * 128).stored  # well formed, but nothing stored can have it


@pytest.mark.parametrize(
    ("reference", "code"), [("-tag", "TAG_INVALID"), ("t" * 129, "TAG_INVALID"), ("sha256:", "DIGEST_INVALID")]
)
def test_malformed_references_name_their_error(reference: str, code: str) -> None:
    with pytest.raises(InvalidSyntaxError) as caught:
        parse_reference(reference)
    assert oci_code(caught.value) == code


def test_blob_digests_must_be_digests() -> None:
    assert check_digest(DIGEST).stored
    with pytest.raises(InvalidSyntaxError) as caught:
        check_digest("latest")
    assert oci_code(caught.value) == "DIGEST_INVALID"

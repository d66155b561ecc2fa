"""Repository URL classification and ref-name safety (pure rules, open-ended inputs)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgsrc.builder.gitref import check_hash, check_ref_name, is_full_hash, parse_repo_url
from imgsrc.errors import InvalidArgumentError


@pytest.mark.parametrize(
    ("url", "transport", "clean"),
    [
        ("https://github.com/o/r.git", "http", "https://github.com/o/r.git"),
        ("http://127.0.0.1:8080/r.git", "http", "http://127.0.0.1:8080/r.git"),
        ("https://u:p%40ss@host/r.git", "http", "https://host/r.git"),
        ("ssh://git@host:2222/o/r.git", "ssh", "ssh://git@host:2222/o/r.git"),
        ("git@github.com:o/r.git", "ssh", "git@github.com:o/r.git"),
        ("git+ssh://host/r", "ssh", "git+ssh://host/r"),
        ("git://host/r.git", "git", "git://host/r.git"),
    ],
)
def test_remote_urls_are_classified(url: str, transport: str, clean: str) -> None:
    parsed = parse_repo_url(url, allow_local=False)
    assert (parsed.transport, parsed.url) == (transport, clean)


def test_allowed_protocols_admit_only_the_urls_transport() -> None:
    assert parse_repo_url("https://h/r", allow_local=False).allowed_protocols == "https"
    assert parse_repo_url("http://h/r", allow_local=False).allowed_protocols == "http:https"
    assert parse_repo_url("git@h:r", allow_local=False).allowed_protocols == "ssh"
    assert parse_repo_url("/srv/r.git", allow_local=True).allowed_protocols == "file"


def test_http_userinfo_moves_to_credentials() -> None:
    parsed = parse_repo_url("https://builder:p%40ss@host/r.git", allow_local=False)
    assert (parsed.username, parsed.password) == ("builder", "p@ss")
    assert "p@ss" not in repr(parsed)
    assert "p%40ss" not in parsed.shown


@pytest.mark.parametrize("url", ["file:///srv/r.git", "/srv/r.git"])
def test_local_repositories_only_when_allowed(url: str) -> None:
    with pytest.raises(InvalidArgumentError):
        parse_repo_url(url, allow_local=False)
    assert parse_repo_url(url, allow_local=True).transport == "file"


@pytest.mark.parametrize(
    "url",
    ["ext::sh -c touch% /tmp/pwned", "-uhttps://x", "ftp://host/r", "https://", "ssh://u:pw@host/r", "relative/path",
     "https://host/r\n.git", "./r.git", ""],
)  # fmt: skip
def test_unsupported_or_unsafe_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidArgumentError):
        parse_repo_url(url, allow_local=True)


@given(st.text(max_size=60))
def test_url_parsing_never_fails_unexpectedly(url: str) -> None:
    try:
        parsed = parse_repo_url(url, allow_local=True)
    except InvalidArgumentError:
        return
    assert not parsed.url.startswith("-")
    assert parsed.allowed_protocols


@pytest.mark.parametrize("name", ["main", "release/1.2", "feature_x-y", "v1.0.0", "a@b"])
def test_ordinary_ref_names_pass(name: str) -> None:
    assert check_ref_name(name, "branch") == name


@pytest.mark.parametrize(
    "name",
    ["", "-x", "--upload-pack=evil", "a..b", "a b", "a~1", "a^", "a:b", "a?", "a*", "a[", "a\\b", "x.lock", "x/",
     "/x", ".x", "x/.y", "a@{1}", "@", "refs/heads/main", "a//b", "a\x00"],
)  # fmt: skip
def test_unsafe_ref_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidArgumentError):
        check_ref_name(name, "branch")


@given(st.text(max_size=40))
def test_accepted_ref_names_never_look_like_options_or_ranges(name: str) -> None:
    try:
        check_ref_name(name, "tag")
    except InvalidArgumentError:
        return
    assert not name.startswith("-")
    assert ".." not in name
    assert not any(ch.isspace() for ch in name)


def test_hashes() -> None:
    assert check_hash("ABCDEF12") == "abcdef12"
    assert is_full_hash("a" * 40)
    assert is_full_hash("a" * 64)
    assert not is_full_hash("a" * 39)
    for bad in ("xyz", "abc", "a" * 65, "-" + "a" * 39):
        with pytest.raises(InvalidArgumentError):
            check_hash(bad)

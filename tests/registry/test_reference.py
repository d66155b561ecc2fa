"""Image reference and digest parsing (``imgsrc.reference``): Docker's normalisation rules, the distribution
grammar's limits, round trips, and the registry URL reading of image sources."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imgsrc.errors import InvalidArgumentError
from imgsrc.reference import Digest, ImageReference, RegistryURL, parse_registry_url

HEX64 = "a" * 64
DIGEST = f"sha256:{HEX64}"

# --- strategies following the grammar ---------------------------------------------------------------------------

alnum = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
separator = st.sampled_from([".", "_", "__", "-", "--"])
component = st.builds(
    lambda first, rest: first + "".join(s + a for s, a in rest),
    alnum,
    st.lists(st.tuples(separator, alnum), max_size=2),
)
path = st.lists(component, min_size=1, max_size=4).map("/".join)
tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
hex64 = st.text("0123456789abcdef", min_size=64, max_size=64)
digest = hex64.map(lambda h: f"sha256:{h}")
host = st.one_of(
    st.just("localhost"),
    st.lists(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?", fullmatch=True), min_size=2, max_size=3).map(".".join),
    st.just("127.0.0.1"),
)
port = st.one_of(st.none(), st.integers(1, 65535))


@st.composite
def references(draw: st.DrawFn) -> str:
    registry = draw(st.one_of(st.none(), st.builds(lambda h, p: h if p is None else f"{h}:{p}", host, port)))
    text = draw(path)
    if registry is not None:
        text = f"{registry}/{text}"
    elif "/" in text and "." in text.split("/")[0]:
        text = f"docker.io/{text}"  # a dotted first element would be read as a registry host, as docker does
    if draw(st.booleans()):
        text += ":" + draw(tag)
    if draw(st.booleans()):
        text += "@" + draw(digest)
    return text


# --- Docker normalisation --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("redis", "docker.io/library/redis:latest"),
        ("redis:7", "docker.io/library/redis:7"),
        ("org/app", "docker.io/org/app:latest"),
        ("docker.io/redis", "docker.io/library/redis:latest"),
        ("index.docker.io/org/app:1", "docker.io/org/app:1"),
        ("ghcr.io/org/app:v1.2", "ghcr.io/org/app:v1.2"),
        ("localhost/app", "localhost/app:latest"),
        ("localhost:5000/a/b/c:t", "localhost:5000/a/b/c:t"),
        ("127.0.0.1:5000/app", "127.0.0.1:5000/app:latest"),
        ("[::1]:5000/app:x", "[::1]:5000/app:x"),
        (f"app@{DIGEST}", f"docker.io/library/app@{DIGEST}"),
        (f"app:tag@{DIGEST}", f"docker.io/library/app:tag@{DIGEST}"),
        ("Registry/app", "Registry/app:latest"),  # an uppercase first element is a host, as in docker
        ("a__b/c-d.e---f", "docker.io/a__b/c-d.e---f:latest"),
    ],
)
def test_parse_normalises_like_docker(target: str, expected: str) -> None:
    assert str(ImageReference.parse(target)) == expected


def test_reference_is_the_digest_when_pinned_else_the_tag() -> None:
    assert ImageReference.parse("redis").reference == "latest"
    assert ImageReference.parse(f"redis:7@{DIGEST}").reference == DIGEST
    pinned = ImageReference.parse(f"redis@{DIGEST}")
    assert pinned.tag is None
    assert pinned.digest == Digest("sha256", HEX64)


def test_default_registry_applies_without_library_prefix_elsewhere() -> None:
    ref = ImageReference.parse("app", default_registry="registry.example.com:5000")
    assert (ref.registry, ref.repository) == ("registry.example.com:5000", "app")
    assert ImageReference.parse("other.io/app", default_registry="registry.example.com").registry == "other.io"


def test_with_registry_keeps_repository_tag_and_digest() -> None:
    ref = ImageReference.parse(f"org/app:1@{DIGEST}").with_registry("localhost:5000")
    assert str(ref) == f"localhost:5000/org/app:1@{DIGEST}"
    with pytest.raises(InvalidArgumentError):
        ref.with_registry("bad host")


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("Redis", "lowercase"),
        ("org/App", "lowercase"),
        ("", "empty"),
        (" redis", "whitespace"),
        ("redis:", "tag"),
        ("redis:-x", "tag"),
        ("redis:" + "a" * 129, "tag"),
        ("redis@sha256:abc", "64"),
        (f"redis@sha256:{'A' * 64}", "lowercase"),
        (f"redis@md5:{HEX64}", "unsupported"),
        ("redis@", "digest"),
        ("a//b", "repository"),
        ("a/-b", "repository"),
        ("a/b_", "repository"),
        ("a/b___c", "repository"),
        ("-host.io/a", "registry host"),
        ("host.io:99999/a", "port"),
        (HEX64, "image ID"),
        ("a" * 256, "longer than 255"),
        ("r.io/" + "a" * 251, "longer than 255"),
    ],
)
def test_invalid_references_are_refused_with_a_clear_message(target: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        ImageReference.parse(target)


@settings(deadline=None)  # a noisy shared machine must not turn slowness into failures
@given(references())
def test_any_grammatical_reference_parses_and_its_canonical_form_is_a_fixed_point(text: str) -> None:
    ref = ImageReference.parse(text)
    assert ImageReference.parse(str(ref)) == ref
    assert str(ImageReference.parse(str(ref))) == str(ref)
    assert ref.reference in (ref.tag, str(ref.digest))


@settings(deadline=None)  # a noisy shared machine must not turn slowness into failures
@given(references())
def test_parsing_keeps_tag_digest_and_last_path_element(text: str) -> None:
    ref = ImageReference.parse(text)
    name = text.split("@", maxsplit=1)[0]
    assert ref.repository.split("/")[-1] == name.rsplit("/", 1)[-1].split(":")[0]
    if "@" in text:
        assert str(ref.digest) == text.split("@")[1]


@settings(deadline=None)  # a noisy shared machine must not turn slowness into failures
@given(st.text(max_size=80))
def test_arbitrary_text_parses_or_raises_invalid_argument_only(text: str) -> None:
    try:
        ref = ImageReference.parse(text)
    except InvalidArgumentError as exc:
        message = str(exc)
        assert message.startswith("invalid")
    else:
        assert ImageReference.parse(str(ref)) == ref


@settings(deadline=None)  # a noisy shared machine must not turn slowness into failures
@given(path, st.sampled_from("ABCXYZ"))
def test_uppercase_in_the_repository_is_refused(repo: str, upper: str) -> None:
    with pytest.raises(InvalidArgumentError):
        ImageReference.parse(f"r.io/{repo}{upper}")


# --- digests ----------------------------------------------------------------------------------------------------


@settings(deadline=None)  # a noisy shared machine must not turn slowness into failures
@given(hex64)
def test_sha256_digest_round_trips(h: str) -> None:
    assert str(Digest.parse(f"sha256:{h}")) == f"sha256:{h}"
    assert Digest.sha256(h) == Digest("sha256", h)


def test_sha512_is_accepted_syntactically() -> None:
    assert Digest.parse("sha512:" + "b" * 128).algorithm == "sha512"
    with pytest.raises(InvalidArgumentError):
        Digest.parse("sha512:" + "b" * 64)


@settings(deadline=None)  # a noisy shared machine must not turn slowness into failures
@given(st.text(max_size=140))
def test_digest_parse_raises_only_invalid_argument(text: str) -> None:
    try:
        parsed = Digest.parse(text)
    except InvalidArgumentError:
        return
    assert str(parsed) == text


# --- registry URLs ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://localhost:5000", RegistryURL("http", "localhost:5000")),
        ("https://ghcr.io", RegistryURL("https", "ghcr.io")),
        ("ghcr.io", RegistryURL("https", "ghcr.io")),
        ("ghcr.io/", RegistryURL("https", "ghcr.io")),
        ("registry.example.com:8443/team/sub", RegistryURL("https", "registry.example.com:8443", "team/sub")),
        ("index.docker.io", RegistryURL("https", "docker.io")),
    ],
)
def test_registry_url_scheme_decides_plain_http_or_https(url: str, expected: RegistryURL) -> None:
    assert parse_registry_url(url) == expected


def test_registry_url_prefix_is_prepended_to_repositories() -> None:
    endpoint = parse_registry_url("http://127.0.0.1:5000/team")
    assert endpoint.base_url == "http://127.0.0.1:5000"
    assert endpoint.repository("app") == "team/app"


@pytest.mark.parametrize("url", ["ftp://h", "", "http://h/Team", "http://h?x=1", "http://h#f", "http://bad host"])
def test_registry_url_refuses_other_schemes_and_odd_parts(url: str) -> None:
    with pytest.raises(InvalidArgumentError):
        parse_registry_url(url)


def test_registry_url_with_credentials_is_refused_without_echoing_them() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        parse_registry_url("https://bob:hunter2secret@registry.example.com")
    assert "hunter2secret" not in str(info.value)
    assert "hunter2secret" not in repr(info.value)

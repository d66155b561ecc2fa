"""``WWW-Authenticate`` parsing and the Bearer token cache (``imgsrc.registry.auth``)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from imgsrc.registry.auth import Challenge, TokenCache, parse_challenges


def test_bearer_challenge_with_quoted_parameters() -> None:
    header = (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/redis:pull"'
    )
    assert parse_challenges([header]) == [
        Challenge(
            "bearer",
            {
                "realm": "https://auth.docker.io/token",
                "service": "registry.docker.io",
                "scope": "repository:library/redis:pull",
            },
        )
    ]


def test_several_challenges_in_one_header_and_across_headers() -> None:
    header = 'Basic realm="r1", Bearer realm="https://t/x",service=s , error="invalid_token"'
    parsed = parse_challenges([header, "Negotiate"])
    assert [c.scheme for c in parsed] == ["basic", "bearer", "negotiate"]
    assert parsed[1].realm == "https://t/x"
    assert parsed[1].service == "s"
    assert parsed[1].params["error"] == "invalid_token"


def test_quoted_values_keep_commas_and_escapes() -> None:
    parsed = parse_challenges(['Bearer realm="a,b",scope="repository:x:pull,push",note="say \\"hi\\""'])
    assert parsed[0].realm == "a,b"
    assert parsed[0].scope == "repository:x:pull,push"
    assert parsed[0].params["note"] == 'say "hi"'


def test_parameter_names_and_scheme_are_case_insensitive() -> None:
    parsed = parse_challenges(['BEARER Realm="r",SERVICE="s"'])
    assert parsed == [Challenge("bearer", {"realm": "r", "service": "s"})]


@settings(deadline=None)  # a noisy shared machine must not turn slowness into failures
@given(st.text(max_size=200))
def test_parsing_never_raises_on_arbitrary_headers(text: str) -> None:
    for challenge in parse_challenges([text]):
        assert challenge.scheme == challenge.scheme.lower()


@settings(deadline=None)  # a noisy shared machine must not turn slowness into failures
@given(
    st.dictionaries(
        st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True),
        st.text(st.characters(blacklist_categories=["Cs", "Cc"]), max_size=30),
        max_size=5,
    )
)
def test_quoted_parameters_round_trip(params: dict[str, str]) -> None:
    quoted = ",".join(f'{k}="' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for k, v in params.items())
    assert parse_challenges([f"Bearer {quoted}"]) == [Challenge("bearer", params)]


def test_token_cache_expires_tokens_a_little_early() -> None:
    now = [100.0]
    cache = TokenCache(lambda: now[0])
    key = ("realm", "svc", "repository:a:pull")
    cache.put(key, "tok", 60)
    now[0] = 150.0
    cached = cache.get(key)
    assert cached is not None
    assert cached.value == "tok"
    assert "tok" not in repr(cached)
    now[0] = 156.0  # 60 s with a 5 s margin: refreshed before the registry would refuse it
    assert cache.get(key) is None

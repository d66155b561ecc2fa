"""Registry tokens and scopes (pure): what a token grants, how long it lives, that it cannot be forged, and that
secrets never show."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgsrc.api.v2.auth import (
    TOKEN_SECONDS,
    TokenSigner,
    basic_secret,
    challenge,
    granted_scopes,
    parse_scopes,
)
from imgsrc.errors import AuthExpiredError, AuthInvalidError, InvalidSyntaxError
from imgsrc.hubs.access import Principal
from imgsrc.vault import Vault

VIEWER = Principal(key_id="k" * 24, hub_id="h" * 24, capabilities=frozenset({"images-view"}), role_id=None)
BLIND = Principal(key_id="b" * 24, hub_id="h" * 24, capabilities=frozenset({"images-sources-view"}), role_id=None)


def signer(secret: str = "server secret") -> TokenSigner:  # noqa: S107 - test data
    return TokenSigner(secret.encode().ljust(32, b"."))


def test_a_token_grants_pull_on_the_requested_repositories_for_five_minutes() -> None:
    issued = signer().issue(VIEWER, ["hub/app", "hub/db"])
    assert issued.expires_in == TOKEN_SECONDS == 300
    key_id, pulls = signer().verify(issued.token)
    assert key_id == VIEWER.key_id
    assert pulls == {"hub/app", "hub/db"}
    claims = jwt.decode(issued.token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 300
    assert {tuple(a["actions"]) for a in claims["access"]} == {("pull",)}


def test_an_expired_token_is_auth_expired() -> None:
    old = signer().issue(VIEWER, ["hub/app"], now=datetime.now(UTC) - timedelta(seconds=TOKEN_SECONDS + 60))
    with pytest.raises(AuthExpiredError):
        signer().verify(old.token)


def test_a_token_signed_with_another_secret_or_altered_is_refused() -> None:
    token = signer("one").issue(VIEWER, ["hub/app"]).token
    with pytest.raises(AuthInvalidError):
        signer("two").verify(token)
    header, _payload, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["access"][0]["name"] = "hub/other"
    forged = jwt.encode(claims, "guess" * 8, algorithm="HS256").split(".")[1]
    with pytest.raises(AuthInvalidError):
        signer("one").verify(f"{header}.{forged}.{signature}")
    unsigned = jwt.encode(claims, None, algorithm="none")
    with pytest.raises(AuthInvalidError):
        signer("one").verify(unsigned)


def test_the_signing_key_derives_from_the_configured_secret_or_the_vault_key_file(tmp_path: Path) -> None:
    token = TokenSigner.from_vault(Vault.from_settings("shared", tmp_path)).issue(VIEWER, []).token
    assert TokenSigner.from_vault(Vault.from_settings("shared", tmp_path / "other")).verify(token)
    (tmp_path / "secret.key").write_bytes(b"file material\n")
    from_file = TokenSigner.from_vault(Vault.from_settings(None, tmp_path))
    with pytest.raises(AuthInvalidError):
        from_file.verify(token)
    assert from_file.verify(from_file.issue(VIEWER, ["a/b"]).token)[1] == {"a/b"}


def test_secrets_stay_out_of_reprs_and_errors() -> None:
    tokens = signer()
    issued = tokens.issue(VIEWER, ["hub/app"])
    assert "server" not in repr(tokens)
    assert issued.token not in repr(issued)
    with pytest.raises(AuthInvalidError) as caught:
        signer("other").verify(issued.token)
    assert issued.token not in str(caught.value)
    assert issued.token not in repr(caught.value)
    key = "imgsrc_" + "s" * 40
    with pytest.raises(AuthInvalidError) as caught:
        basic_secret(base64.b64encode(key.encode()).decode())  # no colon: not user:password
    assert key not in str(caught.value)


def test_basic_credentials_carry_the_key_as_password_whatever_the_user_name() -> None:
    assert basic_secret(base64.b64encode(b"anyone:imgsrc_key").decode()) == "imgsrc_key"
    assert basic_secret(base64.b64encode(b":imgsrc_key:with:colons").decode()) == "imgsrc_key:with:colons"
    for broken in ("%%%", base64.b64encode(b"user:").decode()):
        with pytest.raises(AuthInvalidError):
            basic_secret(broken)


def test_scopes_parse_from_repeated_and_space_separated_parameters() -> None:
    parsed = parse_scopes(["repository:hub/app:pull,push repository:hub/db:pull", "registry:catalog:*"])
    assert parsed == [
        ("repository", "hub/app", frozenset({"pull", "push"})),
        ("repository", "hub/db", frozenset({"pull"})),
        ("registry", "catalog", frozenset({"*"})),
    ]


def test_only_pull_on_well_formed_repositories_is_granted_and_only_with_images_view() -> None:
    requested = parse_scopes(
        [
            "repository:hub/app:pull,push",
            "repository:hub/push-only:push",
            "repository:Bad/Name:pull",
            "registry:catalog:*",
        ]
    )
    assert granted_scopes(VIEWER, requested) == ["hub/app"]
    assert granted_scopes(BLIND, requested) == []


def test_too_many_scopes_are_refused() -> None:
    with pytest.raises(InvalidSyntaxError):
        parse_scopes([" ".join(f"repository:h/r{i}:pull" for i in range(40))])


@given(st.lists(st.text(max_size=60), max_size=5))
def test_any_scope_parameters_parse_or_are_refused_cleanly(values: list[str]) -> None:
    try:
        parsed = parse_scopes(values)
    except InvalidSyntaxError:
        return
    for kind, name, _ in parsed:
        assert kind
        assert name
    for name in granted_scopes(VIEWER, parsed):
        assert ":" not in name


def test_the_challenge_names_the_token_realm_the_service_and_the_scope() -> None:
    header = challenge("http://registry.example:8080", "repository:hub/app:pull")["WWW-Authenticate"]
    assert header == (
        'Bearer realm="http://registry.example:8080/v2/token",service="imgsrc",scope="repository:hub/app:pull"'
    )

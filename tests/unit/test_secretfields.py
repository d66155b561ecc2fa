"""Secret fields are found, masked and restored generically, wherever they sit in an origin."""

from __future__ import annotations

from pydantic import TypeAdapter

from imgsrc.secretfields import MASK, apply_secrets, find_secrets, mask_secrets, secret_pointers
from imgsrc.sources.origins import ImageOrigin
from imgsrc.vault import Vault

ORIGIN = TypeAdapter(ImageOrigin)


def test_secrets_in_nested_unions_and_lists_are_found() -> None:
    origin = ORIGIN.validate_python(
        {
            "type": "docker-file",
            "details": {
                "repo": {
                    "url": "u",
                    "auth": {"type": "ssh", "credentials": {"username": "g", "passphrase": "p", "private_key": "k"}},
                },
                "credentials": [{"url": "r", "username": "a", "token": "t0"}, {"url": "r2", "token": "t1"}],
            },
        }
    )
    assert find_secrets(origin) == {
        "/details/repo/auth/credentials/passphrase": "p",
        "/details/repo/auth/credentials/private_key": "k",
        "/details/credentials/0/token": "t0",
        "/details/credentials/1/token": "t1",
    }
    masked = mask_secrets(origin)
    assert find_secrets(masked) == {}
    assert masked.model_dump()["details"]["credentials"][1]["token"] == MASK
    assert apply_secrets(masked, find_secrets(origin)) == origin
    assert "/details/repo/auth/credentials/passphrase" in secret_pointers(origin)


def test_a_new_secret_wins_over_the_stored_one() -> None:
    origin = ORIGIN.validate_python({"type": "docker-hub", "details": {"target": "x", "token": "new"}})
    assert find_secrets(apply_secrets(origin, {"/details/token": "old"})) == {"/details/token": "new"}


def test_the_vault_round_trips_and_refuses_other_keys(tmp_path) -> None:  # type: ignore[no-untyped-def]
    vault = Vault.from_settings(None, tmp_path)
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
    sealed = vault.seal({"/a": "secret"})
    assert sealed is not None
    assert "secret" not in sealed
    assert Vault.from_settings(None, tmp_path).open(sealed) == {"/a": "secret"}
    import pytest

    from imgsrc.errors import UnknownError

    with pytest.raises(UnknownError):
        Vault(b"another key").open(sealed)
    assert vault.seal({}) is None


def test_secrets_never_show_in_reprs_or_str() -> None:
    from imgsrc.hubs.schemas import ApiKey
    from imgsrc.wire import ZERO_TIME, Events

    origin = ORIGIN.validate_python(
        {
            "type": "oci-registry",
            "details": {
                "target": "a",
                "url": "u",
                "auth": {
                    "type": "provider",
                    "details": {"flavor": "ecr", "credentials": {"api_key": "AKIA-LEAK", "secret": "S-LEAK"}},
                },
            },
        }
    )
    key = ApiKey(
        id="k",
        hub_id="h",
        name="n",
        hint="imgsrc_",
        capabilities=["all"],
        role_id=None,
        events=Events(created=ZERO_TIME, updated=ZERO_TIME, deleted=ZERO_TIME),
        secret="imgsrc_LEAK",
    )
    for text in (repr(origin), str(origin), repr(key), str(key), f"{origin!r}"):
        assert "LEAK" not in text
    assert find_secrets(origin) == {
        "/details/auth/details/credentials/api_key": "AKIA-LEAK",
        "/details/auth/details/credentials/secret": "S-LEAK",
    }

"""Secrets: encrypted at rest, masked in every answer, kept by PATCH when masked or omitted, never logged."""

from __future__ import annotations

import logging
import subprocess
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from imgsrc.db import Database
from imgsrc.secretfields import MASK
from imgsrc.sources.models import SourceRow
from imgsrc.sources.service import source_origin_with_secrets
from imgsrc.vault import Vault
from tests.api.helpers import assert_error, new_source

SECRETS = {
    "hub": "s3cret-hub-token-1",
    "reg_pw": "s3cret-registry-password-2",
    "reg_tk": "s3cret-registry-token-3",
    "oci": "s3cret-oci-token-4",
    "hook": "https://hooks.example/s3cret-webhook-5",
    "ecr_key": "AKIAS3CRET6",
    "ecr_secret": "s3cret-ecr-7",
    "ecr_config": "czNjcmV0LWNvbmZpZy04",
    "git_pw": "s3cret-git-password-9",
    "ssh_pp": "s3cret-passphrase-10",
    "ssh_key": "-----BEGIN OPENSSH PRIVATE KEY-----s3cret-11",
    "cred": "s3cret-credential-12",
}

ORIGINS = [
    {"type": "docker-hub", "details": {"target": "redis", "username": "u", "token": SECRETS["hub"]}},
    {
        "type": "docker-registry",
        "details": {
            "target": "a",
            "url": "r.example",
            "username": "u",
            "password": SECRETS["reg_pw"],
            "token": SECRETS["reg_tk"],
        },
    },
    {
        "type": "oci-registry",
        "details": {
            "target": "a",
            "url": "r.example",
            "auth": {"type": "user", "details": {"username": "u", "token": SECRETS["oci"]}},
        },
    },
    {
        "type": "oci-registry",
        "details": {
            "target": "a",
            "url": "r.example",
            "auth": {"type": "webhook", "details": {"url": SECRETS["hook"]}},
        },
    },
    {
        "type": "oci-registry",
        "details": {
            "target": "a",
            "url": "r.example",
            "auth": {
                "type": "provider",
                "details": {
                    "flavor": "ecr",
                    "credentials": {
                        "region": "eu-west-1",
                        "api_key": SECRETS["ecr_key"],
                        "secret": SECRETS["ecr_secret"],
                        "config": SECRETS["ecr_config"],
                    },
                },
            },
        },
    },
    {
        "type": "docker-file",
        "details": {
            "repo": {
                "url": "https://g.example/r.git",
                "auth": {"type": "http", "credentials": {"username": "u", "password": SECRETS["git_pw"]}},
            },
            "credentials": [{"url": "r.example", "username": "u", "token": SECRETS["cred"]}],
        },
    },
    {
        "type": "docker-file",
        "details": {
            "repo": {
                "url": "ssh://g.example/r.git",
                "auth": {
                    "type": "ssh",
                    "credentials": {
                        "username": "git",
                        "passphrase": SECRETS["ssh_pp"],
                        "private_key": SECRETS["ssh_key"],
                    },
                },
            }
        },
    },
]


def no_secret_in(text_: str) -> None:
    for name, value in SECRETS.items():
        assert value not in text_, f"secret {name} leaked"


def stored_origin(settings: Any, source_id: str) -> dict[str, Any]:
    db = Database(settings.resolved_database_url)
    try:
        with db.session() as session:
            row = session.get_one(SourceRow, source_id)
            origin = source_origin_with_secrets(session, Vault.from_settings(None, settings.data_dir), row)
            return origin.model_dump()
    finally:
        db.dispose()


def dump_database(settings: Any) -> str:
    """Everything the database holds, as text (for SQLite the raw file bytes too)."""
    if settings.database_url is None:
        path = settings.data_dir / "imgsrc.db"
        subprocess.run(["sync"], check=True)
        raw = b"".join(p.read_bytes() for p in path.parent.glob("imgsrc.db*"))
        return raw.decode("latin-1")
    engine = create_engine(settings.database_url)
    chunks: list[str] = []
    with engine.connect() as conn:
        tables = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname='public'")).scalars().all()
        for table in tables:
            query = text(f'SELECT * FROM "{table}"')  # noqa: S608 - table names come from pg_tables
            chunks.extend(str(row) for row in conn.execute(query).all())
    engine.dispose()
    return "\n".join(chunks)


@pytest.mark.parametrize("origin", ORIGINS, ids=lambda o: o["type"])
def test_secrets_are_masked_in_every_answer(api: Any, origin: dict[str, Any], caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    created = api.post("/v1/images/sources", json={"type": "direct", "origin": origin})
    assert created.status_code == 201, created.text
    source_id = created.json()["data"]["id"]
    answers = [
        created.text,
        api.get(f"/v1/images/sources/{source_id}").text,
        api.get("/v1/images/sources?include=creators").text,
        api.patch(f"/v1/images/sources/{source_id}", json={"name": "renamed"}).text,
    ]
    for answer in answers:
        no_secret_in(answer)
    assert MASK in created.text
    no_secret_in(caplog.text)


def test_the_database_holds_no_secret_in_clear(api: Any, settings: Any) -> None:
    for origin in ORIGINS:
        new_source(api, origin=origin)
    source = new_source(api, origin=ORIGINS[0])
    api.delete(f"/v1/images/sources/{source['id']}")  # a job row too
    no_secret_in(dump_database(settings))
    # and yet they are all there, for the factory
    assert stored_origin(settings, source["id"])["details"]["token"] == SECRETS["hub"]


def test_patch_with_the_mask_or_without_the_field_keeps_the_secret(api: Any, settings: Any) -> None:
    source = new_source(api, origin=ORIGINS[2])
    masked = api.get(f"/v1/images/sources/{source['id']}").json()["data"]["origin"]
    assert masked["details"]["auth"]["details"]["token"] == MASK
    # send back what GET answered (the mask): kept
    masked["details"]["target"] = "b"
    assert api.patch(f"/v1/images/sources/{source['id']}", json={"origin": masked}).status_code == 200
    assert stored_origin(settings, source["id"])["details"]["auth"]["details"]["token"] == SECRETS["oci"]
    # leave it out: kept
    del masked["details"]["auth"]["details"]["token"]
    assert api.patch(f"/v1/images/sources/{source['id']}", json={"origin": masked}).status_code == 200
    assert stored_origin(settings, source["id"])["details"]["auth"]["details"]["token"] == SECRETS["oci"]
    # send a new one: replaced
    masked["details"]["auth"]["details"]["token"] = "brand-new"
    assert api.patch(f"/v1/images/sources/{source['id']}", json={"origin": masked}).status_code == 200
    stored = stored_origin(settings, source["id"])
    assert stored["details"]["auth"]["details"]["token"] == "brand-new"
    assert stored["details"]["target"] == "b"


def test_the_mask_without_a_stored_secret_is_refused(api: Any) -> None:
    origin = {"type": "docker-hub", "details": {"target": "redis", "token": MASK}}
    response = api.post("/v1/images/sources", json={"type": "direct", "origin": origin})
    assert_error(response, 422, "422.invalid-argument", "/origin/details/token")


def test_existing_source_lends_its_credentials_without_copying_them(api: Any, settings: Any) -> None:
    base = new_source(api, origin=ORIGINS[1])
    child = new_source(
        api,
        origin={
            "type": "docker-registry",
            "details": {"target": "other:2", "url": "r.example", "existing": {"source_id": base["id"]}},
        },
    )
    no_secret_in(api.get(f"/v1/images/sources/{child['id']}").text)
    merged = stored_origin(settings, child["id"])
    assert merged["details"]["target"] == "other:2"  # its own detail wins
    assert merged["details"]["password"] == SECRETS["reg_pw"]  # the rest comes from the named source
    assert merged["details"]["username"] == "u"
    mismatched = api.post(
        "/v1/images/sources",
        json={
            "type": "direct",
            "origin": {"type": "docker-hub", "details": {"target": "x", "existing": {"source_id": base["id"]}}},
        },
    )
    assert_error(mismatched, 422, "422.invalid-argument", "/origin/details/existing/source_id")

"""The SDK's public surface: an explicit ``__all__``, no server modules loaded, hubs/keys/roles calls, and the
paging rule that ``iter`` relies on."""

from __future__ import annotations

import json
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

import imgsrc.client
from imgsrc.client import Client
from imgsrc.client.query import next_page
from tests.support.server import LiveServer

SERVER_MODULES = ("fastapi", "starlette", "sqlalchemy", "alembic", "huey", "uvicorn", "psycopg", "redis")
SERVER_PACKAGES = ("imgsrc.api", "imgsrc.db", "imgsrc.worker", "imgsrc.runtime", "imgsrc.vault", "imgsrc.cli")


def test_importing_the_sdk_loads_no_server_module() -> None:
    """The SDK is usable where only httpx and pydantic are installed: importing it pulls in no server code."""
    code = "import imgsrc.client, json, sys; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
    offending = [
        m
        for m in loaded
        if m.split(".")[0] in SERVER_MODULES or any(m == p or m.startswith(p + ".") for p in SERVER_PACKAGES)
    ]
    assert offending == []


def test_all_names_exactly_the_public_api() -> None:
    exported = set(imgsrc.client.__all__)
    assert {"Client", "AsyncClient", "ClientConnectionError", "JobFailedError", "NotFoundError", "Page"} <= exported
    assert {"Image", "BuildLog", "ImportProgress", "UploadProgress"} <= exported
    assert all(hasattr(imgsrc.client, name) for name in exported)
    assert len(exported) == len(imgsrc.client.__all__)


def test_hubs_roles_and_keys(sdk: Client, server: LiveServer) -> None:
    """A key's secret is in its creation answer only; revoking it locks it out; a new hub comes with its own
    admin key."""
    assert sdk.hubs.current().id == server.hub_id
    role = sdk.roles.create("Builders", identifier="builders")
    assert [r.identifier for r in sdk.roles.list()] == ["builders"]

    key = sdk.keys.create("ci", capabilities=["images-sources-view", "images-view"], role_id=role.id)
    assert key.secret is not None
    assert key.role_id == role.id
    listed = {k.id: k for k in sdk.keys.list()}
    assert listed[key.id].secret is None
    sdk.keys.revoke(key.id)
    assert key.id not in {k.id for k in sdk.keys.list()}

    created = sdk.hubs.create("Second", identifier="second")
    assert created.hub.identifier == "second"
    assert created.api_key.secret is not None
    with Client(server.url, created.api_key.secret, created.hub.id) as other:
        assert other.hubs.current().id == created.hub.id
        assert other.sources.list() == []


@given(total=st.integers(min_value=0, max_value=60), size=st.integers(min_value=1, max_value=25))
def test_next_page_visits_every_item_exactly_once(total: int, size: int) -> None:
    """Driving ``next_page`` over a collection of ``total`` items fetches each item once and then stops."""
    items = list(range(total))
    seen: list[int] = []
    number: int | None = 1
    fetches = 0
    while number is not None:
        fetches += 1
        batch = items[(number - 1) * size : number * size]
        seen.extend(batch)
        number = next_page(number, len(batch), size, len(seen), total)
    assert seen == items
    assert fetches <= total // size + 1


def test_answers_with_fields_a_newer_server_added_are_still_read() -> None:
    import json as _json
    from pathlib import Path as _Path

    from imgsrc.client.http import Answer, one
    from imgsrc.sources.schemas import ImageSource

    document = _json.loads((_Path(__file__).resolve().parents[1] / "data" / "seed-image-source.json").read_text())
    document["added_later"] = {"x": 1}
    document["origin"]["details"]["also_new"] = True
    parsed = one(ImageSource)(Answer(status=200, data=document))
    assert parsed.id == document["id"]

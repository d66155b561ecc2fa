"""/v2 inside the app: where the token realm points, that /v2 stays out of the Cycle API's OpenAPI document, and
that even a crash answers in the distribution format."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from imgsrc.api.app import create_app
from imgsrc.api.v2 import routes
from tests.conftest import make_settings


@pytest.fixture
def app_client(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[TestClient]:
    overrides: dict[str, Any] = getattr(request, "param", {})
    settings = make_settings(tmp_path / "data", workers=0, **overrides)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize("app_client", [{"public_url": "https://images.example.com/"}], indirect=True)
def test_the_token_realm_is_the_public_url_when_one_is_set(app_client: TestClient) -> None:
    challenge = app_client.get("/v2/").headers["WWW-Authenticate"]
    assert challenge == 'Bearer realm="https://images.example.com/v2/token",service="imgsrc"'


def test_the_token_realm_is_the_url_the_client_used_otherwise(app_client: TestClient) -> None:
    challenge = app_client.get("/v2/", headers={"Host": "registry.internal:5000"}).headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="http://registry.internal:5000/v2/token"')


def test_v2_is_not_part_of_the_cycle_openapi_document(app_client: TestClient) -> None:
    paths = app_client.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith("/v2")]


def test_a_crash_is_a_500_in_the_distribution_format_naming_the_request(
    app_client: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def explode(*_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(routes, "caller_of", explode)
    response = app_client.get("/v2/")
    assert response.status_code == 500
    (error,) = response.json()["errors"]
    assert error["code"] == "UNKNOWN"
    assert response.headers["X-Request-Id"] in error["detail"]
    assert "boom" not in response.text
    assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"


def test_the_base_endpoint_accepts_the_bootstrap_key(app_client: TestClient, tmp_path: Path) -> None:
    key = json.loads((tmp_path / "data" / "bootstrap.json").read_text())["api_key"]
    assert app_client.get("/v2", headers={"Authorization": f"Bearer {key}"}).json() == {}

"""Where a client connects and with which credentials: arguments, environment, bootstrap file; what it sends."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

from imgsrc.client import DEFAULT_URL, AsyncClient, Client, ConfigurationError
from imgsrc.client.config import Connection, read_bootstrap

KEY = "imgsrc_secret-value-123"
HUB = "0123456789abcdef01234567"


def capture(sent: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"data": []}, headers={"X-Total-Count": "0"})

    return httpx.MockTransport(handler)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("IMGSRC_URL", "IMGSRC_API_KEY", "IMGSRC_HUB_ID"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults_come_from_the_environment_when_the_client_is_built(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("IMGSRC_URL", "http://env.example:9000/")
    clean_env.setenv("IMGSRC_API_KEY", KEY)
    clean_env.setenv("IMGSRC_HUB_ID", HUB)
    sent: list[httpx.Request] = []
    with Client(transport=capture(sent)) as client:
        assert (client.base_url, client.hub_id) == ("http://env.example:9000", HUB)
        client.roles.list()
    assert sent[0].url == "http://env.example:9000/v1/hubs/current/roles"
    assert sent[0].headers["Authorization"] == f"Bearer {KEY}"
    assert sent[0].headers["X-Hub-Id"] == HUB


def test_arguments_beat_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("IMGSRC_URL", "http://env.example:9000")
    clean_env.setenv("IMGSRC_API_KEY", "imgsrc_from-env")
    connection = Connection.resolve("https://given.example", KEY, HUB)
    assert connection == Connection("https://given.example", HUB, KEY)


def test_without_anything_the_default_url_and_no_credentials(clean_env: pytest.MonkeyPatch) -> None:
    """No key: no Authorization header at all (the server then answers 401 naming what is missing)."""
    sent: list[httpx.Request] = []
    with Client(transport=capture(sent)) as client:
        assert client.base_url == DEFAULT_URL
        client.keys.list()
    assert "Authorization" not in sent[0].headers
    assert "X-Hub-Id" not in sent[0].headers


@pytest.mark.parametrize("url", ["127.0.0.1:8080", "ftp://host", "http://", "not a url"])
def test_malformed_url_is_a_configuration_error(url: str, clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError):
        Client(url)


def test_reprs_never_show_the_key(clean_env: pytest.MonkeyPatch) -> None:
    with Client("http://h:1", KEY, HUB) as client:
        assert KEY not in repr(client)
        assert "api_key=<set>" in repr(client)
    assert KEY not in repr(Connection.resolve("http://h:1", KEY, HUB))
    assert KEY not in repr(AsyncClient("http://h:1", KEY, HUB))


def test_list_queries_use_the_documented_syntax(clean_env: pytest.MonkeyPatch) -> None:
    sent: list[httpx.Request] = []
    with Client("http://h:1", KEY, HUB, transport=capture(sent)) as client:
        client.sources.list(
            search="re dis", state=["live", "deleting"], sort=["name", "-id"], page=2, page_size=5, meta="images_count"
        )
    params = sent[0].url.params
    assert params["filter[search]"] == "re dis"
    assert params["filter[state]"] == "live,deleting"
    assert params["sort"] == "name,-id"
    assert (params["page[number]"], params["page[size]"], params["meta"]) == ("2", "5", "images_count")
    assert "filter[identifier]" not in params


def _write_bootstrap(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "bootstrap.json"
    path.write_text(json.dumps({"hub_id": HUB, "api_key": KEY}))
    os.chmod(path, 0o600)
    return path


def test_from_bootstrap_reads_the_file_or_its_directory(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    path = _write_bootstrap(tmp_path / "data")
    sent: list[httpx.Request] = []
    for where in (path, tmp_path / "data", str(path)):
        with Client.from_bootstrap(where, "http://h:1", transport=capture(sent)) as client:
            assert client.hub_id == HUB
            client.roles.list()
    assert [r.headers["Authorization"] for r in sent] == [f"Bearer {KEY}"] * 3
    boot = read_bootstrap(tmp_path / "data")
    assert (boot.hub_id, boot.api_key) == (HUB, KEY)
    assert KEY not in repr(boot)


@pytest.mark.parametrize("content", [None, "not json", "[]", '{"hub_id": "x"}', '{"hub_id": "", "api_key": "k"}'])
def test_unusable_bootstrap_file_is_a_configuration_error(tmp_path: Path, content: str | None) -> None:
    if content is not None:
        (tmp_path / "bootstrap.json").write_text(content)
    with pytest.raises(ConfigurationError, match="bootstrap"):
        Client.from_bootstrap(tmp_path)

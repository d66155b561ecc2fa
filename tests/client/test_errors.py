"""Error mapping: envelopes become the project's exception classes; failures outside the protocol become the
SDK's own errors; no credential ever appears in an error or a repr."""

from __future__ import annotations

import socket

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgsrc.client import (
    AuthInvalidError,
    Client,
    ClientConnectionError,
    ImgsrcError,
    NotFoundError,
    NotReadyError,
    PermissionsError,
    UnexpectedResponseError,
    WrongHubError,
)
from imgsrc.client.errors import error_from_answer
from imgsrc.errors import error_class_for_code
from tests.support.server import LiveServer

SECRET = "imgsrc_this-key-must-never-be-shown"


def answering(response: httpx.Response) -> Client:
    return Client("http://imgsrc.test", SECRET, "0" * 24, transport=httpx.MockTransport(lambda request: response))


def _leaks(error: BaseException, secret: str = SECRET) -> bool:
    return secret in f"{error} {error!r} {getattr(error, 'extra', '')} {error.__cause__!r}"


def test_invalid_key_is_auth_invalid_and_not_quoted(server: LiveServer) -> None:
    """A 401 from the real server is AuthInvalidError; neither it nor the client's repr shows the key."""
    with Client(server.url, SECRET, server.hub_id) as client:
        assert SECRET not in repr(client)
        with pytest.raises(AuthInvalidError) as caught:
            client.sources.list()
    assert caught.value.code == "401.auth-invalid"
    assert not _leaks(caught.value)


def test_other_hub_is_wrong_hub(server: LiveServer) -> None:
    with Client(server.url, server.api_key, "a" * 24) as client, pytest.raises(WrongHubError) as caught:
        client.hubs.current()
    assert caught.value.code == "403.wrong-hub"


def test_missing_capability_names_it(sdk: Client, server: LiveServer) -> None:
    """A key without ``images-sources-manage`` gets PermissionsError whose ``extra`` names the capability."""
    viewer = sdk.keys.create("viewer", capabilities=["images-sources-view"])
    assert viewer.secret is not None
    with Client(server.url, viewer.secret, server.hub_id) as client:
        assert client.sources.list() == []
        with pytest.raises(PermissionsError) as caught:
            client.sources.create(origin={"type": "none"})
    assert caught.value.extra == {"capability": "images-sources-manage"}
    assert not _leaks(caught.value, viewer.secret)


def test_envelope_fields_are_carried_over() -> None:
    body = {
        "error": {
            "status": 422,
            "code": "422.invalid-argument",
            "title": "Invalid argument",
            "detail": "/origin/details/url: must be a URL",
            "source": "/origin/details/url",
            "extra": {"hint": 1},
        },
        "data": None,
    }
    with answering(httpx.Response(422, json=body)) as client, pytest.raises(ImgsrcError) as caught:
        client.sources.list()
    error = caught.value
    assert (error.code, error.title, error.detail, error.source, error.extra) == (
        "422.invalid-argument",
        "Invalid argument",
        "/origin/details/url: must be a URL",
        "/origin/details/url",
        {"hint": 1},
    )
    assert type(error) is error_class_for_code("422.invalid-argument")


@given(
    status=st.integers(min_value=400, max_value=599),
    code=st.one_of(st.none(), st.text(max_size=30), st.sampled_from(["404.image", "403.permissions", "500.database"])),
    detail=st.one_of(st.none(), st.text(max_size=50), st.integers()),
    extra=st.one_of(st.none(), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3), st.text(max_size=5)),
)
def test_any_error_answer_becomes_a_project_error(status: int, code: object, detail: object, extra: object) -> None:
    """Whatever an error answer holds, the result is an ImgsrcError: of the class its code names when it has
    one, else of the code closest to its HTTP status."""
    body = {"error": {"code": code, "detail": detail, "extra": extra}, "data": None}
    error = error_from_answer(status, body)
    assert isinstance(error, ImgsrcError)
    if isinstance(code, str) and code:
        assert error.code == code
        assert isinstance(error, error_class_for_code(code))
        assert error.detail == (detail if isinstance(detail, str) and detail else code)
    assert isinstance(error.extra, dict)


def test_error_without_envelope_maps_by_status() -> None:
    """A proxy's HTML 502 becomes NotReadyError; a bare 404 becomes NotFoundError."""
    with answering(httpx.Response(502, text="<html>bad gateway</html>")) as client, pytest.raises(NotReadyError):
        client.hubs.current()
    with answering(httpx.Response(404, text="")) as client, pytest.raises(NotFoundError):
        client.hubs.current()


def test_success_that_is_not_the_wire_format_is_unexpected() -> None:
    with answering(httpx.Response(200, text="<html>hello</html>")) as client, pytest.raises(UnexpectedResponseError):
        client.hubs.current()
    with answering(httpx.Response(200, json={"hub": {}})) as client, pytest.raises(UnexpectedResponseError):
        client.hubs.current()


def test_invalid_answer_is_described_without_its_values() -> None:
    """An answer that does not validate is reported by location, never by value (it may hold a secret)."""
    key = {"id": "k", "hub_id": "h", "name": "n", "hint": "i", "capabilities": ["all"], "secret": "SHOWN-ONCE"}
    with answering(httpx.Response(201, json={"data": key})) as client, pytest.raises(UnexpectedResponseError) as caught:
        client.keys.create("n", capabilities=["all"])
    assert "/events" in caught.value.detail
    assert not _leaks(caught.value, "SHOWN-ONCE")


def test_unreachable_server_is_a_connection_error_without_credentials() -> None:
    """Nothing listening: ClientConnectionError (a 503 not-ready), naming the URL without its userinfo."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        url = f"http://user:url-password@127.0.0.1:{port}"
        with Client(url, SECRET, "0" * 24, timeout=5) as client, pytest.raises(ClientConnectionError) as caught:
            client.hubs.current()
    assert caught.value.code == "503.not-ready"
    assert f"127.0.0.1:{port}" in caught.value.detail
    assert not _leaks(caught.value)
    assert not _leaks(caught.value, "url-password")


def test_timeouts_are_connection_errors() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client = Client("http://imgsrc.test", SECRET, transport=httpx.MockTransport(slow))
    with client, pytest.raises(ClientConnectionError, match="timed out"):
        client.jobs.list()

"""Credentials providers against real services: a webhook (local HTTP server) and Amazon ECR (a local
stand-in of the ECR JSON API driven through botocore), each refetched after the registry answers 401, ECR
tokens also refreshed when less than an hour of them remains. No network beyond loopback."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest

from imgsrc.errors import UpstreamAuthError
from imgsrc.registry import Credentials, EcrCredentials, StaticCredentials, WebhookCredentials
from tests.registry.conftest import ClientFactory, run
from tests.support.faults import Status, manifest_path, start_fault_proxy
from tests.support.httpd import serve_in_thread
from tests.support.images import push_image
from tests.support.registry import RunningRegistry, start_registry

pytestmark = pytest.mark.registry


@dataclass
class Answers:
    """What a stand-in server answers, in order (the last one repeats), and what it was asked."""

    bodies: list[tuple[int, bytes]]
    requests: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next(self, headers: dict[str, str]) -> tuple[int, bytes]:
        with self.lock:
            self.requests.append(headers)
            index = min(len(self.requests), len(self.bodies)) - 1
            return self.bodies[index]


@contextlib.contextmanager
def serve(answers: Answers, content_type: str) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            status, body = answers.next({k.lower(): v for k, v in self.headers.items()})
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = _answer
        do_POST = _answer

    with serve_in_thread(Handler, "scripted-upstream") as url:
        yield url


def b64(text: str) -> bytes:
    return base64.b64encode(text.encode())


# --- webhook ----------------------------------------------------------------------------------------------------


def test_webhook_credentials_are_refetched_after_the_registry_refuses_them(
    basic_registry: RunningRegistry, tmp_path: Path, make_client: ClientFactory
) -> None:
    push_image(basic_registry, tmp_path, "creds/webhook")
    answers = Answers([(200, b64("alice:stale-password")), (200, b64(f"alice:{basic_registry.password}"))])
    with serve(answers, "text/plain") as url:

        async def scenario() -> None:
            async with httpx.AsyncClient() as http:
                provider = WebhookCredentials(f"{url}/creds?token=hook-secret-123", http)
                assert "hook-secret-123" not in repr(provider)
                async with make_client(basic_registry, provider) as client:
                    assert await client.head_manifest("creds/webhook", "latest") is not None
                    assert await client.head_manifest("creds/webhook", "latest") is not None

        run(scenario())
    assert len(answers.requests) == 2  # fetched, refused by the registry, fetched again; then cached


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [(500, b"", "answered 500"), (200, b"not base64!", "base64"), (200, b64("no-colon"), "base64")],
)
def test_webhook_failures_are_auth_errors_without_the_url_secret(status: int, body: bytes, message: str) -> None:
    with serve(Answers([(status, body)]), "text/plain") as url:

        async def scenario() -> None:
            async with httpx.AsyncClient() as http:
                await WebhookCredentials(f"{url}/c?token=hook-secret-123", http).get()

        with pytest.raises(UpstreamAuthError, match=message) as info:
            run(scenario())
    assert "hook-secret-123" not in str(info.value)


# --- ECR --------------------------------------------------------------------------------------------------------


def ecr_answer(password: str, expires_at: dt.datetime) -> tuple[int, bytes]:
    body = {
        "authorizationData": [
            {
                "authorizationToken": b64(f"AWS:{password}").decode(),
                "expiresAt": expires_at.timestamp(),
                "proxyEndpoint": "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            }
        ]
    }
    return 200, json.dumps(body).encode()


@pytest.fixture(scope="module")
def ecr_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A Basic-auth registry whose user is ``AWS``, as ECR's."""
    with start_registry(tmp_path_factory.mktemp("ecr"), auth="basic", username="AWS") as reg:
        yield reg


def test_ecr_token_is_traded_through_botocore_and_reused_while_fresh(
    ecr_registry: RunningRegistry, tmp_path: Path, make_client: ClientFactory
) -> None:
    push_image(ecr_registry, tmp_path, "creds/ecr")
    now = dt.datetime.now(dt.UTC)
    answers = Answers([ecr_answer(str(ecr_registry.password), now + dt.timedelta(hours=12))])
    with serve(answers, "application/x-amz-json-1.1") as endpoint:
        provider = EcrCredentials("eu-west-1", "AKIDEXAMPLE", "secret-key-xyz", endpoint_url=endpoint)
        assert "secret-key-xyz" not in repr(provider)

        async def scenario() -> None:
            async with make_client(ecr_registry, provider) as client:
                assert await client.head_manifest("creds/ecr", "latest") is not None
                assert await client.head_manifest("creds/ecr", "latest") is not None

        run(scenario())
    assert len(answers.requests) == 1
    request = answers.requests[0]
    assert request["x-amz-target"].endswith("GetAuthorizationToken")
    assert "AKIDEXAMPLE" in request["authorization"]  # SigV4 signed with our key id
    assert "secret-key-xyz" not in json.dumps(request)


def test_ecr_token_with_less_than_an_hour_left_is_refreshed() -> None:
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)
    answers = Answers([ecr_answer("p1", soon), ecr_answer("p2", soon + dt.timedelta(hours=12))])
    with serve(answers, "application/x-amz-json-1.1") as endpoint:

        async def scenario() -> list[str]:
            provider = EcrCredentials("eu-west-1", "AKID", "secret", endpoint_url=endpoint)
            secrets = []
            for _ in range(3):
                creds = await provider.get()
                assert creds is not None
                assert creds.username == "AWS"
                secrets.append(creds.secret)
            return secrets

        assert run(scenario()) == ["p1", "p2", "p2"]
    assert len(answers.requests) == 2


def test_ecr_token_is_refetched_after_the_registry_answers_401(
    ecr_registry: RunningRegistry, tmp_path: Path, make_client: ClientFactory
) -> None:
    push_image(ecr_registry, tmp_path, "creds/ecr-401")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=12)
    answers = Answers([ecr_answer("revoked", later), ecr_answer(str(ecr_registry.password), later)])
    with serve(answers, "application/x-amz-json-1.1") as endpoint:
        provider = EcrCredentials("eu-west-1", "AKID", "secret", endpoint_url=endpoint)

        async def scenario() -> None:
            async with make_client(ecr_registry, provider) as client:
                assert await client.head_manifest("creds/ecr-401", "latest") is not None

        run(scenario())
    assert len(answers.requests) == 2


def test_ecr_refusal_is_an_auth_error_naming_the_region_not_the_keys() -> None:
    refusal = (400, json.dumps({"__type": "UnrecognizedClientException", "message": "bad key"}).encode())
    with serve(Answers([refusal]), "application/x-amz-json-1.1") as endpoint:
        provider = EcrCredentials("eu-west-1", "AKIDREFUSED", "secret-key-refused", endpoint_url=endpoint)
        with pytest.raises(UpstreamAuthError, match="eu-west-1") as info:
            run(provider.get())
    assert "secret-key-refused" not in str(info.value)
    assert "AKIDREFUSED" not in str(info.value)


def test_ecr_token_is_refetched_after_a_403(
    ecr_registry: RunningRegistry, tmp_path: Path, make_client: ClientFactory
) -> None:
    push_image(ecr_registry, tmp_path, "creds/ecr-403")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=12)
    answers = Answers([ecr_answer(str(ecr_registry.password), later)])
    with (
        serve(answers, "application/x-amz-json-1.1") as endpoint,
        start_fault_proxy(ecr_registry.url) as proxy,
    ):
        provider = EcrCredentials("eu-west-1", "AKID", "secret", endpoint_url=endpoint)

        async def scenario() -> None:
            async with make_client(proxy.url, provider) as client:
                assert await client.head_manifest("creds/ecr-403", "latest") is not None
                # ECR answers 403 to a token it no longer accepts
                proxy.add(manifest_path("creds/ecr-403", "latest"), Status(403), method="HEAD", times=1)
                assert await client.head_manifest("creds/ecr-403", "latest") is not None

        run(scenario())
    assert len(answers.requests) == 2


def test_credentials_reprs_never_show_the_secret() -> None:
    secret = "s3cr3t-value-42"
    for value in (
        Credentials("bob", secret),
        StaticCredentials("bob", secret),
        EcrCredentials("us-east-1", "AKIDREPR", secret),
    ):
        assert secret not in repr(value)
        assert secret not in str(value)

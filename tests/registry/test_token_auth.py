"""Bearer-token authentication against the real registry and the test token service: tokens are cached per
scope, refreshed on expiry and after a 401, granted push only with credentials, and never logged."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from imgsrc.errors import UpstreamAuthError
from imgsrc.registry import Descriptor, ResolvedImage, StaticCredentials
from tests.registry.conftest import ClientFactory, Clock, run
from tests.support.images import push_image
from tests.support.registry import RunningRegistry, start_registry
from tests.support.tokenserver import TokenServer

pytestmark = pytest.mark.registry


@pytest.fixture
def tokens(token_registry: RunningRegistry) -> Iterator[TokenServer]:
    """The session's token service, its knobs restored after the test."""
    server = token_registry.token_server
    assert server is not None
    saved = (server.expires_in, server.bad_tokens, server.token_field, server.include_expires_in)
    yield server
    server.expires_in, server.bad_tokens, server.token_field, server.include_expires_in = saved


def test_token_is_fetched_once_and_reused_for_the_same_scope(
    token_registry: RunningRegistry,
    tokens: TokenServer,
    tmp_path: Path,
    make_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    image = push_image(token_registry, tmp_path, "token/cache", layer_sizes=(100, 200, 300))
    mark = tokens.mark()

    async def scenario() -> None:
        async with make_client(token_registry) as client:
            resolved = await client.resolve("token/cache", "latest")
            assert isinstance(resolved, ResolvedImage)
            # parallel downloads of three layers share the cached token
            await asyncio.gather(
                *(
                    client.download_blob("token/cache", layer, tmp_path / f"{i}.blob")
                    for i, layer in enumerate(resolved.layers)
                )
            )

    run(scenario())
    fetched = tokens.requests_since(mark)
    assert len(fetched) == 1
    assert fetched[0].username == "alice"
    assert [s.name for s in fetched[0].scopes] == ["token/cache"]
    assert fetched[0].granted[0].actions == ("pull",)
    for i, layer in enumerate(image.layers):
        assert (tmp_path / f"{i}.blob").read_bytes() == layer.data()
    # neither the token (a JWT: "eyJ...") nor the password reaches the logs
    assert "eyJ" not in caplog.text
    assert str(token_registry.password) not in caplog.text


def test_another_repository_gets_its_own_token(
    token_registry: RunningRegistry, tokens: TokenServer, tmp_path: Path, make_client: ClientFactory
) -> None:
    push_image(token_registry, tmp_path, "token/one")
    push_image(token_registry, tmp_path, "token/two")
    mark = tokens.mark()

    async def scenario() -> None:
        async with make_client(token_registry) as client:
            await client.resolve("token/one", "latest")
            await client.resolve("token/two", "latest")
            await client.resolve("token/one", "latest")

    run(scenario())
    assert [r.scopes[0].name for r in tokens.requests_since(mark)] == ["token/one", "token/two"]


def test_token_is_refreshed_after_it_expires(
    token_registry: RunningRegistry, tokens: TokenServer, tmp_path: Path, make_client: ClientFactory, clock: Clock
) -> None:
    push_image(token_registry, tmp_path, "token/expiry")
    tokens.expires_in = 120
    mark = tokens.mark()

    async def scenario() -> None:
        async with make_client(token_registry) as client:
            await client.head_manifest("token/expiry", "latest")
            clock.now += 100
            await client.head_manifest("token/expiry", "latest")
            assert len(tokens.requests_since(mark)) == 1
            clock.now += 20  # past expiry (less the early-refresh margin)
            await client.head_manifest("token/expiry", "latest")
            assert len(tokens.requests_since(mark)) == 2

    run(scenario())


def test_missing_expires_in_means_sixty_seconds_and_access_token_is_accepted(
    token_registry: RunningRegistry, tokens: TokenServer, tmp_path: Path, make_client: ClientFactory, clock: Clock
) -> None:
    push_image(token_registry, tmp_path, "token/default-expiry")
    tokens.include_expires_in = False
    tokens.token_field = "access_token"
    mark = tokens.mark()

    async def scenario() -> None:
        async with make_client(token_registry) as client:
            await client.head_manifest("token/default-expiry", "latest")
            clock.now += 50
            await client.head_manifest("token/default-expiry", "latest")
            assert len(tokens.requests_since(mark)) == 1
            clock.now += 11
            await client.head_manifest("token/default-expiry", "latest")
            assert len(tokens.requests_since(mark)) == 2

    run(scenario())


def test_token_refused_by_the_registry_is_replaced_once(
    token_registry: RunningRegistry, tokens: TokenServer, tmp_path: Path, make_client: ClientFactory
) -> None:
    image = push_image(token_registry, tmp_path, "token/refused")
    tokens.bad_tokens = 1
    mark = tokens.mark()

    async def scenario() -> None:
        async with make_client(token_registry) as client:
            head = await client.head_manifest("token/refused", "latest")
            assert head is not None
            assert head.digest == image.manifest_digest

    run(scenario())
    assert len(tokens.requests_since(mark)) == 2


def test_tokens_that_keep_being_refused_end_in_an_auth_error(
    token_registry: RunningRegistry, tokens: TokenServer, tmp_path: Path, make_client: ClientFactory
) -> None:
    push_image(token_registry, tmp_path, "token/always-refused")
    tokens.bad_tokens = 10
    with pytest.raises(UpstreamAuthError, match="401"):
        run(_head(make_client(token_registry), "token/always-refused"))


async def _head(client: object, repo: str) -> Descriptor | None:
    async with client as c:  # type: ignore[attr-defined]
        return await c.head_manifest(repo, "latest")  # type: ignore[no-any-return]


def test_wrong_password_at_the_token_service_is_an_auth_error_without_the_secret(
    token_registry: RunningRegistry, tokens: TokenServer, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "Not-The-Password-9"
    with pytest.raises(UpstreamAuthError, match="token service") as info:
        run(_head(make_client(token_registry, StaticCredentials("alice", secret)), "token/x"))
    for text in (str(info.value), repr(info.value), caplog.text):
        assert secret not in text


def test_anonymous_pull_refused_by_the_token_service(tmp_path: Path, make_client: ClientFactory) -> None:
    with start_registry(tmp_path / "reg", auth="token", token_anonymous_pull=False) as reg:
        push_image(reg, tmp_path, "token/private")
        with pytest.raises(UpstreamAuthError, match="anonymous"):
            run(_head(make_client(reg.url), "token/private"))
        assert run(_head(make_client(reg), "token/private")) is not None


def test_push_needs_credentials_and_asks_for_push_scope(
    token_registry: RunningRegistry, tokens: TokenServer, tmp_path: Path, make_client: ClientFactory
) -> None:
    blob = tmp_path / "blob"
    blob.write_bytes(b"pushed with a token")
    digest = "sha256:" + hashlib.sha256(blob.read_bytes()).hexdigest()

    async def push(client: object) -> None:
        async with client as c:  # type: ignore[attr-defined]
            await c.upload_blob("token/push", digest, blob)

    with pytest.raises(UpstreamAuthError):
        run(push(make_client(token_registry.url)))
    mark = tokens.mark()
    run(push(make_client(token_registry)))
    granted = [r.granted for r in tokens.requests_since(mark)]
    assert granted[0][0].actions == ("pull", "push")

    async def check() -> bool:
        async with make_client(token_registry) as c:
            return await c.blob_exists("token/push", digest)

    assert run(check())

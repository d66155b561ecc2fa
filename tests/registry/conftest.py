"""Fixtures of the registry adapter tests: the real registries of :mod:`tests.support.registry`, settings,
and a client factory whose back-off waits are recorded instead of slept (so retry tests assert the waits the
client chose without taking that long)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from imgsrc.registry import RegistryClient, StaticCredentials
from imgsrc.registry.credentials import CredentialsProvider
from imgsrc.settings import Settings
from tests.support.registry import RunningRegistry, basic_registry, registry, token_registry

__all__ = ["basic_registry", "registry", "token_registry"]

T = TypeVar("T")


def run(coro: Awaitable[T]) -> T:
    """Run one coroutine to completion (each test owns its event loop)."""

    async def main() -> T:
        return await coro

    return asyncio.run(main())


@dataclass
class Clock:
    """A monotonic clock tests move by hand (token expiry)."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Sleeps:
    """Records back-off waits instead of sleeping."""

    waits: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", retries=3, http_timeout_seconds=10.0, parallel_downloads=4)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def clock() -> Clock:
    return Clock()


ClientFactory = Callable[..., RegistryClient]


@pytest.fixture
def make_client(settings: Settings, sleeps: Sleeps, clock: Clock) -> ClientFactory:
    """``make_client(registry_or_url, credentials=None, **kwargs)``: a client with recorded sleeps; a
    :class:`RunningRegistry` brings its own credentials unless ``credentials`` is given."""

    def factory(
        target: RunningRegistry | str,
        credentials: CredentialsProvider | None = None,
        *,
        settings_override: Settings | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        **kwargs: Any,
    ) -> RegistryClient:
        if isinstance(target, RunningRegistry):
            url = target.url
            if credentials is None and target.credentials is not None:
                credentials = StaticCredentials(*target.credentials)
        else:
            url = target
        return RegistryClient(
            url,
            credentials,
            settings_override or settings,
            transport=transport,
            sleep=sleeps,
            clock=clock,
            rand=lambda: 0.5,
            **kwargs,
        )

    return factory

"""Where registry credentials come from.

The client asks a :class:`CredentialsProvider` for credentials before it authenticates, and calls
:meth:`~CredentialsProvider.invalidate` when the registry (or its token service) refuses them with 401/403, so
that the next :meth:`~CredentialsProvider.get` fetches fresh ones: webhook credentials may have been rotated, an
ECR token may have expired early.

Secrets never appear in reprs or messages: :class:`Credentials` hides its ``secret``, and failures name the
webhook host or the AWS region, never a key, token or URL query.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import httpx

from imgsrc.errors import UpstreamAuthError

__all__ = [
    "Anonymous",
    "Credentials",
    "CredentialsProvider",
    "EcrCredentials",
    "StaticCredentials",
    "WebhookCredentials",
    "decode_basic_pair",
]

# ECR tokens live 12 hours; one with less than this left is replaced before use.
ECR_REFRESH_MARGIN = dt.timedelta(hours=1)
_WEBHOOK_MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class Credentials:
    """A username and its secret (password or token). The secret is left out of the repr."""

    username: str
    secret: str = field(repr=False)


@runtime_checkable
class CredentialsProvider(Protocol):
    """Gives the credentials to use now (``None``: anonymous) and forgets them when they are refused."""

    async def get(self) -> Credentials | None: ...

    async def invalidate(self) -> None: ...


class Anonymous:
    """No credentials."""

    async def get(self) -> Credentials | None:
        return None

    async def invalidate(self) -> None:
        return None

    def __repr__(self) -> str:
        return "Anonymous()"


class StaticCredentials:
    """Fixed credentials (a source's username and password). ``invalidate`` changes nothing: a refused static
    password fails the operation instead of being retried forever."""

    def __init__(self, username: str, secret: str) -> None:
        self._credentials = Credentials(username, secret)

    async def get(self) -> Credentials | None:
        return self._credentials

    async def invalidate(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"StaticCredentials(username={self._credentials.username!r})"


def decode_basic_pair(encoded: str | bytes, *, what: str) -> Credentials:
    """Decode base64 ``username:secret`` (the webhook body and the ECR token share this form)."""
    try:
        text = base64.b64decode(encoded, validate=True).decode("utf-8").strip()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise UpstreamAuthError(f"{what} did not return base64 'username:secret'") from exc
    username, sep, secret = text.partition(":")
    if not sep or not username or not secret:
        raise UpstreamAuthError(f"{what} did not return base64 'username:secret'")
    return Credentials(username, secret)


def _safe_location(url: str) -> str:
    """``scheme://host/path`` of ``url``: no userinfo, query or fragment, which may carry secrets."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class WebhookCredentials:
    """Credentials fetched from a URL whose body is base64 ``username:secret``; kept until invalidated.

    Concurrent ``get`` calls share one fetch. The URL may hold a secret (a query token), so messages only
    show its scheme, host and path.
    """

    def __init__(self, url: str, http_client: httpx.AsyncClient) -> None:
        self._url = url
        self._http = http_client
        self._cached: Credentials | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> Credentials | None:
        async with self._lock:
            if self._cached is None:
                self._cached = await self._fetch()
            return self._cached

    async def invalidate(self) -> None:
        async with self._lock:
            self._cached = None

    async def _fetch(self) -> Credentials:
        where = f"credentials webhook {_safe_location(self._url)}"
        try:
            async with self._http.stream("GET", self._url, headers={"Accept": "text/plain"}) as response:
                if response.status_code != 200:
                    raise UpstreamAuthError(f"{where} answered {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > _WEBHOOK_MAX_BYTES:
                        raise UpstreamAuthError(f"{where} returned more than {_WEBHOOK_MAX_BYTES} bytes")
        except httpx.HTTPError as exc:
            raise UpstreamAuthError(f"{where} could not be reached ({exc.__class__.__name__})") from exc
        return decode_basic_pair(bytes(body).strip(), what=where)

    def __repr__(self) -> str:
        return f"WebhookCredentials(url={_safe_location(self._url)!r})"


class EcrCredentials:
    """Amazon ECR credentials: an access key traded for a 12-hour registry token with
    ``ecr:GetAuthorizationToken`` (botocore, run in a worker thread since it blocks).

    The token is reused until less than an hour of it remains, or until invalidated. ``clock`` (UTC now) is a
    test seam.
    """

    def __init__(
        self,
        region: str,
        access_key: str,
        secret_key: str,
        endpoint_url: str | None = None,
        *,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self._region = region
        self._access_key = access_key
        self._secret_key = secret_key
        self._endpoint_url = endpoint_url
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._cached: Credentials | None = None
        self._expires_at: dt.datetime | None = None
        self._client: Any = None
        self._lock = asyncio.Lock()

    async def get(self) -> Credentials | None:
        async with self._lock:
            now = self._clock()
            if self._cached is None or self._expires_at is None or self._expires_at - now < ECR_REFRESH_MARGIN:
                self._cached, self._expires_at = await asyncio.to_thread(self._fetch)
            return self._cached

    async def invalidate(self) -> None:
        async with self._lock:
            self._cached = None
            self._expires_at = None

    def _botocore_client(self) -> Any:
        if self._client is None:
            import botocore.config
            import botocore.session

            session = botocore.session.get_session()
            self._client = session.create_client(
                "ecr",
                region_name=self._region,
                aws_access_key_id=self._access_key,
                aws_secret_access_key=self._secret_key,
                endpoint_url=self._endpoint_url,
                config=botocore.config.Config(retries={"max_attempts": 3, "mode": "standard"}),
            )
        return self._client

    def _fetch(self) -> tuple[Credentials, dt.datetime]:
        import botocore.exceptions

        where = f"ECR GetAuthorizationToken in {self._region}"
        started = time.monotonic()
        try:
            answer = self._botocore_client().get_authorization_token()
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise UpstreamAuthError(f"{where} was refused ({code})") from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise UpstreamAuthError(f"{where} failed ({exc.__class__.__name__})") from exc
        data = answer.get("authorizationData") or []
        if not data or "authorizationToken" not in data[0]:
            raise UpstreamAuthError(f"{where} returned no authorization data")
        credentials = decode_basic_pair(data[0]["authorizationToken"], what=where)
        expires_at = data[0].get("expiresAt")
        if not isinstance(expires_at, dt.datetime):
            # No expiry given: assume the documented 12 hours from when we asked.
            expires_at = self._clock() + dt.timedelta(hours=12) - dt.timedelta(seconds=time.monotonic() - started)
        elif expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=dt.UTC)
        return credentials, expires_at

    def __repr__(self) -> str:
        return f"EcrCredentials(region={self._region!r})"

"""Registry authentication: ``WWW-Authenticate`` challenges, Basic credentials and Bearer tokens.

A registry says how it wants to be authenticated in its 401 answer. :class:`Authenticator` remembers the
challenge of its registry, so later requests authenticate up front instead of eating a 401 each: Basic sends
the credentials; Bearer fetches a token from the challenge's ``realm`` (with the credentials as Basic, or
anonymously) for the request's scopes and caches it per (realm, service, scope) until it expires
(``expires_in``, default 60 s). Whatever realm the registry names is honoured (for Docker Hub that is
``auth.docker.io``; in tests, the test token service).

Refusals are handled in steps, each at most once per request: learn a new challenge; drop the cached token;
invalidate the credentials (so webhook/ECR providers refetch). Tokens and secrets are never logged.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

import httpx

from imgsrc.errors import RegistryError, UpstreamAuthError
from imgsrc.registry.credentials import Credentials, CredentialsProvider

__all__ = [
    "Authenticator",
    "BearerToken",
    "Challenge",
    "TokenCache",
    "fetch_token",
    "parse_challenges",
    "repository_scope",
]

logger = logging.getLogger(__name__)

DEFAULT_TOKEN_SECONDS = 60.0
_TOKEN_MAX_BYTES = 1024 * 1024
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
TokenRequester = Callable[[str, Mapping[str, str | list[str]], Credentials | None], Awaitable[httpx.Response]]


@dataclass(frozen=True)
class Challenge:
    """One authentication challenge: ``scheme`` (lowercase) and its parameters (lowercase names)."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scope(self) -> str | None:
        return self.params.get("scope")


def _quoted(text: str, start: int) -> tuple[str, int]:
    """Read a quoted-string starting at ``text[start] == '"'``; returns (value, index after it)."""
    out: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if char == '"':
            return "".join(out), i + 1
        out.append(char)
        i += 1
    return "".join(out), i  # unterminated: take the rest


def parse_challenges(values: Iterable[str]) -> list[Challenge]:
    """Parse ``WWW-Authenticate`` header values (RFC 9110: several challenges per header and several headers,
    parameters as tokens or quoted strings with escapes). Malformed tails are ignored, never raised on."""
    challenges: list[Challenge] = []
    for value in values:
        params: dict[str, str] | None = None
        i, n = 0, len(value)
        while i < n:
            while i < n and value[i] in " \t,":
                i += 1
            match = _TOKEN_RE.match(value, i)
            if match is None:
                break
            name, i = match.group(), match.end()
            j = i
            while j < n and value[j] in " \t":
                j += 1
            if params is not None and j < n and value[j] == "=":
                j += 1
                while j < n and value[j] in " \t":
                    j += 1
                if j < n and value[j] == '"':
                    param, i = _quoted(value, j)
                else:
                    token = _TOKEN_RE.match(value, j)
                    param, i = (token.group(), token.end()) if token else ("", j)
                params[name.lower()] = param
            else:
                params = {}
                challenges.append(Challenge(name.lower(), params))
    return challenges


def repository_scope(repository: str, actions: Iterable[str]) -> str:
    """``repository:<name>:<actions>`` as token services expect it."""
    return f"repository:{repository}:{','.join(actions)}"


@dataclass(frozen=True)
class BearerToken:
    value: str = field(repr=False)
    expires_at: float


class TokenCache:
    """Bearer tokens per (realm, service, scope), valid until a little before their expiry."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._tokens: dict[tuple[str, str, str], BearerToken] = {}

    def get(self, key: tuple[str, str, str]) -> BearerToken | None:
        token = self._tokens.get(key)
        if token is not None and self._clock() >= token.expires_at:
            del self._tokens[key]
            return None
        return token

    def put(self, key: tuple[str, str, str], value: str, expires_in: float) -> BearerToken:
        # Refresh a little early so a token does not expire between our check and the registry's.
        margin = min(5.0, expires_in / 10)
        token = BearerToken(value, self._clock() + expires_in - margin)
        self._tokens[key] = token
        return token

    def drop(self, key: tuple[str, str, str]) -> None:
        self._tokens.pop(key, None)


async def fetch_token(
    request: TokenRequester,
    realm: str,
    service: str | None,
    scopes: Iterable[str],
    credentials: Credentials | None,
) -> tuple[str, float]:
    """Fetch a Bearer token from ``realm`` (Docker token protocol: GET with ``service`` and ``scope``, Basic
    credentials if any). Returns (token, expires_in seconds). 401/403 raise :class:`UpstreamAuthError`.

    ``request`` performs the GET (the client's retrying sender); callers that need Docker Hub's endpoint
    directly pass ``settings.dockerhub_auth_url`` as ``realm`` and ``registry.docker.io`` as ``service``.
    """
    params: dict[str, str | list[str]] = {}
    if service:
        params["service"] = service
    scope_list = sorted(set(scopes))
    if scope_list:
        params["scope"] = scope_list
    response = await request(realm, params, credentials)
    host = httpx.URL(realm).host
    if response.status_code in (401, 403):
        raise UpstreamAuthError(
            f"token service {host} refused the "
            + ("credentials" if credentials else "anonymous request")
            + f" ({response.status_code})"
        )
    if response.status_code != 200:
        raise RegistryError(f"token service {host} answered {response.status_code}")
    if len(response.content) > _TOKEN_MAX_BYTES:
        raise RegistryError(f"token service {host} answered more than {_TOKEN_MAX_BYTES} bytes")
    try:
        body = response.json()
    except ValueError as exc:
        raise RegistryError(f"token service {host} answered something that is not JSON") from exc
    token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise RegistryError(f"token service {host} answered without a token")
    expires_in = body.get("expires_in")
    seconds = float(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else DEFAULT_TOKEN_SECONDS
    return token, seconds


def basic_header(credentials: Credentials) -> str:
    pair = f"{credentials.username}:{credentials.secret}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


@dataclass
class AuthAttempt:
    """What was tried for one request, so each recovery step happens at most once."""

    sent: str | None = None
    token_key: tuple[str, str, str] | None = None
    extra_scopes: frozenset[str] = frozenset()
    learned: bool = False
    token_dropped: bool = False
    credentials_invalidated: bool = False


class Authenticator:
    """Authentication state of one registry (host): its challenge, the token cache, the credentials."""

    def __init__(
        self, credentials: CredentialsProvider, request_token: TokenRequester, clock: Callable[[], float]
    ) -> None:
        self._credentials = credentials
        self._request_token = request_token
        self._challenge: Challenge | None = None
        self._tokens = TokenCache(clock)
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}

    async def authorize(self, scopes: tuple[str, ...], attempt: AuthAttempt) -> str | None:
        """The ``Authorization`` value for a request needing ``scopes`` (``None``: send none yet)."""
        challenge = self._challenge
        attempt.sent = None
        attempt.token_key = None
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            credentials = await self._credentials.get()
            attempt.sent = basic_header(credentials) if credentials else None
            return attempt.sent
        if challenge.scheme != "bearer" or not challenge.realm:
            return None
        wanted = set(scopes) | attempt.extra_scopes
        key = (challenge.realm, challenge.service or "", " ".join(sorted(wanted)))
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:  # concurrent transfers of one repository share one token fetch
            token = self._tokens.get(key)
            if token is None:
                value, expires_in = await self._fetch(challenge, wanted, attempt)
                token = self._tokens.put(key, value, expires_in)
        attempt.token_key = key
        attempt.sent = f"Bearer {token.value}"
        return attempt.sent

    async def _fetch(self, challenge: Challenge, scopes: set[str], attempt: AuthAttempt) -> tuple[str, float]:
        assert challenge.realm is not None  # noqa: S101 - checked by the caller
        credentials = await self._credentials.get()
        try:
            return await fetch_token(self._request_token, challenge.realm, challenge.service, scopes, credentials)
        except UpstreamAuthError:
            if credentials is None or attempt.credentials_invalidated:
                raise
        # The token service refused the credentials: they may have been rotated; fetch them again once.
        await self._credentials.invalidate()
        attempt.credentials_invalidated = True
        credentials = await self._credentials.get()
        return await fetch_token(self._request_token, challenge.realm, challenge.service, scopes, credentials)

    async def refused(self, response: httpx.Response, attempt: AuthAttempt) -> bool:
        """React to a 401/403; ``True`` if another attempt may succeed (each step is taken once)."""
        challenges = parse_challenges(response.headers.get_list("www-authenticate"))
        usable = [c for c in challenges if c.scheme == "bearer" and c.realm] or [
            c for c in challenges if c.scheme == "basic"
        ]
        if response.status_code == 401 and usable and not attempt.learned:
            challenge = usable[0]
            known = self._challenge
            base = (challenge.scheme, challenge.realm, challenge.service)
            new_scopes = frozenset(challenge.scope.split(" ")) if challenge.scope else frozenset()
            if known is None or (known.scheme, known.realm, known.service) != base:
                # Remember how this registry authenticates, without the request-specific scope.
                params = {k: v for k, v in challenge.params.items() if k != "scope"}
                self._challenge = Challenge(challenge.scheme, params)
                attempt.learned = True
                attempt.extra_scopes = new_scopes
                return True
            if not new_scopes <= set(attempt.token_key[2].split(" ") if attempt.token_key else ()):
                attempt.learned = True
                attempt.extra_scopes = new_scopes
                return True
        if attempt.token_key is not None and not attempt.token_dropped:
            self._tokens.drop(attempt.token_key)
            attempt.token_dropped = True
            return True
        if attempt.sent is not None and not attempt.credentials_invalidated:
            await self._credentials.invalidate()
            if attempt.token_key is not None:
                self._tokens.drop(attempt.token_key)
            attempt.credentials_invalidated = True
            return True
        return False

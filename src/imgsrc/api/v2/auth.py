"""Who is pulling: registry-client authentication for ``/v2``.

Clients authenticate with the hub's API keys, in any of three ways:

* **Bearer token** (the standard flow, what skopeo, podman, containerd and Docker do): a request without
  credentials gets ``401`` with ``WWW-Authenticate: Bearer realm="<base>/v2/token",service="imgsrc",scope=…``;
  the client fetches ``GET /v2/token?service=imgsrc&scope=repository:<name>:pull`` with Basic credentials
  (any user name, the API key as password) and retries with the token.
* **Basic** on any request: any user name, the API key as password.
* **Bearer API key**, as on ``/v1``.

Tokens are HS256 JWTs (PyJWT) valid for five minutes, naming the key (``sub``) and the granted
``repository:<name>:pull`` actions only (``access``, as in Docker's token specification). The signing key is
derived, with HMAC-SHA256 and a fixed label, from the server's secret material -- ``IMGSRC_SECRET_KEY`` or the
``<data_dir>/secret.key`` file the vault uses -- so every server sharing that secret accepts the others' tokens,
and changing the secret invalidates them all. Each request re-reads the key behind a token: a revoked key stops
working at once, and capability or role changes apply immediately.

The token service grants ``pull`` on any well-formed repository name to a key holding ``images-view``, whether
or not the repository exists or is visible to the key: the registry decides on every request, and answers an
unknown, foreign or ACL-hidden repository exactly like an absent one (404 ``NAME_UNKNOWN``). Granting only
visible names would make the token's claims an oracle for other hubs' repositories.

Tokens and keys never appear in logs, error details or reprs.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session

from imgsrc.api.v2.params import MAX_NAME, NAME_RE
from imgsrc.errors import AuthExpiredError, AuthInvalidError, InvalidSyntaxError
from imgsrc.hubs.access import Principal
from imgsrc.hubs.models import ApiKeyRow
from imgsrc.hubs.service import KEY_PREFIX, authenticate
from imgsrc.vault import Vault

__all__ = [
    "SERVICE",
    "TOKEN_SECONDS",
    "Caller",
    "TokenSigner",
    "caller_of",
    "challenge",
    "granted_scopes",
    "parse_scopes",
]

SERVICE: Final = "imgsrc"
TOKEN_SECONDS: Final = 300
MAX_SCOPES: Final = 32
_ALGORITHM: Final = "HS256"
_LABEL: Final = b"imgsrc /v2 registry token signing key v1"
_LEEWAY: Final = timedelta(seconds=10)  # clock differences between servers sharing the secret


@dataclass(frozen=True)
class Caller:
    """An authenticated client. ``pulls`` is the set of repositories a token grants ``pull`` on, or ``None``
    when the client sent an API key itself (its capabilities and ACLs alone decide)."""

    principal: Principal
    pulls: frozenset[str] | None = None

    def may_pull(self, name: str) -> bool:
        return self.pulls is None or name in self.pulls


@dataclass(frozen=True)
class IssuedToken:
    token: str = field(repr=False)
    expires_in: int
    issued_at: datetime


class TokenSigner:
    """Issues and verifies the registry's Bearer tokens. Build it with :meth:`from_vault`."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __repr__(self) -> str:
        return "TokenSigner(key=<hidden>)"

    @classmethod
    def from_vault(cls, vault: Vault) -> TokenSigner:
        """The signer of a server: its key derived from the vault's secret material."""
        return cls(vault.derive(_LABEL))

    def issue(self, principal: Principal, pulls: Iterable[str], *, now: datetime | None = None) -> IssuedToken:
        now = now or datetime.now(UTC)
        claims = {
            "iss": SERVICE,
            "aud": SERVICE,
            "sub": principal.key_id,
            "hub": principal.hub_id,
            "iat": now,
            "nbf": now,
            "exp": now + timedelta(seconds=TOKEN_SECONDS),
            "jti": secrets.token_hex(12),
            "access": [{"type": "repository", "name": name, "actions": ["pull"]} for name in sorted(set(pulls))],
        }
        return IssuedToken(jwt.encode(claims, self._key, algorithm=_ALGORITHM), TOKEN_SECONDS, now)

    def verify(self, token: str) -> tuple[str, frozenset[str]]:
        """The key ID a valid token names, and the repositories it grants ``pull`` on. ``401.auth-expired``
        for an expired token, ``401.auth-invalid`` for any other defect (the token is never echoed)."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                audience=SERVICE,
                issuer=SERVICE,
                leeway=_LEEWAY,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthExpiredError("the registry token has expired") from exc
        except jwt.InvalidTokenError as exc:
            raise AuthInvalidError("invalid registry token") from exc
        subject = claims.get("sub")
        if not isinstance(subject, str):
            raise AuthInvalidError("invalid registry token")
        return subject, frozenset(_pulls_of(claims.get("access")))


def _pulls_of(access: Any) -> Iterable[str]:
    if not isinstance(access, list):
        return
    for entry in access:
        if (
            isinstance(entry, dict)
            and entry.get("type") == "repository"
            and isinstance(entry.get("name"), str)
            and "pull" in (entry.get("actions") or ())
        ):
            yield entry["name"]


def _principal_of_key(session: Session, key_id: str) -> Principal:
    row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.id == key_id))
    if row is None or row.revoked_at is not None:
        raise AuthInvalidError("the API key behind this token is no longer valid")
    return Principal(key_id=row.id, hub_id=row.hub_id, capabilities=frozenset(row.capabilities), role_id=row.role_id)


def basic_secret(authorization: str) -> str:
    """The password of ``Basic <base64(user:password)>`` (the user name is ignored)."""
    try:
        decoded = base64.b64decode(authorization.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise AuthInvalidError("malformed Basic credentials") from exc
    _, sep, password = decoded.partition(":")
    if not sep or not password:
        raise AuthInvalidError("Basic credentials need the API key as password")
    return password


def caller_of(session: Session, signer: TokenSigner, authorization: str | None) -> Caller:
    """Authenticate a ``/v2`` request from its ``Authorization`` header (``401`` errors otherwise)."""
    if not authorization:
        raise AuthInvalidError("authentication required")
    scheme, _, credentials = authorization.strip().partition(" ")
    scheme = scheme.lower()
    credentials = credentials.strip()
    if scheme == "basic":
        return Caller(authenticate(session, basic_secret(credentials)))
    if scheme == "bearer" and credentials:
        if credentials.startswith(KEY_PREFIX):
            return Caller(authenticate(session, credentials))
        key_id, pulls = signer.verify(credentials)
        return Caller(_principal_of_key(session, key_id), pulls)
    raise AuthInvalidError("unsupported authorization scheme")


def key_of_token_request(session: Session, authorization: str | None) -> Principal:
    """The key asking the token service for a token: Basic (API key as password) or ``Bearer <API key>``."""
    if not authorization:
        raise AuthInvalidError("the token service needs credentials: the API key as Basic password")
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() == "basic":
        return authenticate(session, basic_secret(credentials))
    if scheme.lower() == "bearer" and credentials.strip().startswith(KEY_PREFIX):
        return authenticate(session, credentials.strip())
    raise AuthInvalidError("the token service needs the API key as Basic password")


def parse_scopes(values: Iterable[str]) -> list[tuple[str, str, frozenset[str]]]:
    """``(type, name, actions)`` of each requested scope; ``scope`` parameters may repeat and each may hold
    several space-separated scopes. Malformed scopes are skipped (Docker's token specification says a token
    service grants what it can); more than :data:`MAX_SCOPES` is a 400."""
    parsed: list[tuple[str, str, frozenset[str]]] = []
    for value in values:
        for scope in value.split():
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind and name:
                parsed.append((kind, name, frozenset(a for a in actions.split(",") if a)))
            if len(parsed) > MAX_SCOPES:
                raise InvalidSyntaxError(f"at most {MAX_SCOPES} scopes per token")
    return parsed


def granted_scopes(principal: Principal, requested: Iterable[tuple[str, str, frozenset[str]]]) -> list[str]:
    """The repositories a token for ``principal`` grants ``pull`` on: every well-formed one requested with
    ``pull`` (or ``*``), if the key holds ``images-view``; nothing otherwise. Other actions are never granted."""
    if not principal.has("images-view"):
        return []
    return [
        name
        for kind, name, actions in requested
        if kind == "repository" and ("pull" in actions or "*" in actions)
        if len(name) <= MAX_NAME and NAME_RE.fullmatch(name)
    ]


def challenge(realm_base: str, scope: str | None = None) -> dict[str, str]:
    """The ``WWW-Authenticate`` header of a 401: the Bearer flow, with ``scope`` when one is known."""
    value = f'Bearer realm="{realm_base}/v2/token",service="{SERVICE}"'
    if scope:
        value += f',scope="{scope}"'
    return {"WWW-Authenticate": value}

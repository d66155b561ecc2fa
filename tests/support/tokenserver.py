"""A token service that behaves like Docker Hub's ``auth.docker.io/token``, for the real registry in tests.

``GET /token?service=<svc>&scope=repository:<name>:pull,push[&scope=...]`` with optional Basic credentials
answers ``{"token", "access_token", "expires_in", "issued_at"}``. The token is a JWT (ES256) signed with a key
whose self-signed certificate is the registry's ``rootcertbundle`` and travels in the ``x5c`` header, as CNCF
distribution's ``auth.token`` expects.

Granting follows the request: a known user with the right password gets the ``pull``/``push`` actions it
asked for; an anonymous caller gets ``pull`` only, and only when ``anonymous_pull`` is on; wrong credentials
get 401.
Every request served is recorded (:attr:`TokenServer.requests`) so tests can count token fetches.

Knobs are plain attributes, changeable while the server runs: ``expires_in`` (what the answer says),
``bad_tokens`` (the next N tokens carry an ``exp`` already past, so the registry refuses them with 401: this
is how tests exercise "refresh on 401", since distribution allows a minute of clock leeway on real expiry),
``token_field`` (``"both"``, ``"token"`` or ``"access_token"``) and ``include_expires_in``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.httpd import serve_in_thread

__all__ = ["Scope", "TokenRequest", "TokenServer", "start_token_server"]

# distribution accepts tokens up to a minute past ``exp``; a "bad" token is expired well beyond that.
_BAD_TOKEN_AGE = 3600


@dataclass(frozen=True)
class Scope:
    """One ``type:name:actions`` scope (``repository:library/redis:pull,push``)."""

    type: str
    name: str
    actions: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Scope:
        parts = text.split(":")
        if len(parts) < 3:
            raise ValueError(f"malformed scope {text!r}")
        actions = tuple(a for a in parts[-1].split(",") if a)
        return cls(type=parts[0], name=":".join(parts[1:-1]), actions=actions)


@dataclass(frozen=True)
class TokenRequest:
    """One request the token service answered (never holds the password or the token)."""

    service: str | None
    scopes: tuple[Scope, ...]
    username: str | None
    status: int
    granted: tuple[Scope, ...]
    authorization_sent: bool


@dataclass
class TokenServer:
    """The running token service; see the module docstring for the knobs."""

    realm: str
    service: str
    issuer: str
    cert_bundle: Path
    users: dict[str, str] = field(repr=False)
    expires_in: int = 300
    anonymous_pull: bool = True
    bad_tokens: int = 0
    token_field: Literal["both", "token", "access_token"] = "both"
    include_expires_in: bool = True
    _key: ec.EllipticCurvePrivateKey | None = field(default=None, repr=False)
    _x5c: str = field(default="", repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _requests: list[TokenRequest] = field(default_factory=list, repr=False)

    # --- records --------------------------------------------------------------------------------------------

    @property
    def requests(self) -> list[TokenRequest]:
        """A copy of every request served so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def mark(self) -> int:
        """A position in the request log, for :meth:`requests_since` (session-scoped servers are shared)."""
        with self._lock:
            return len(self._requests)

    def requests_since(self, mark: int) -> list[TokenRequest]:
        with self._lock:
            return list(self._requests[mark:])

    def _record(self, request: TokenRequest) -> None:
        with self._lock:
            self._requests.append(request)

    # --- issuing --------------------------------------------------------------------------------------------

    def _take_bad(self) -> bool:
        with self._lock:
            if self.bad_tokens > 0:
                self.bad_tokens -= 1
                return True
            return False

    def grant(self, username: str | None, scopes: tuple[Scope, ...]) -> tuple[Scope, ...]:
        """What ``username`` (``None``: anonymous) gets out of ``scopes``."""
        granted: list[Scope] = []
        for scope in scopes:
            if scope.type != "repository":
                continue
            allowed = {"pull", "push"} if username is not None else ({"pull"} if self.anonymous_pull else set())
            actions = tuple(a for a in scope.actions if a in allowed)
            if actions:
                granted.append(Scope(scope.type, scope.name, actions))
        return tuple(granted)

    def issue(self, username: str | None, granted: tuple[Scope, ...]) -> dict[str, object]:
        """Sign a token for ``granted`` and build the JSON answer."""
        assert self._key is not None
        now = int(time.time())
        exp = now - _BAD_TOKEN_AGE if self._take_bad() else now + max(self.expires_in, 1)
        claims = {
            "iss": self.issuer,
            "sub": username or "",
            "aud": self.service,
            "exp": exp,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(12),
            "access": [{"type": s.type, "name": s.name, "actions": list(s.actions)} for s in granted],
        }
        token = jwt.encode(claims, self._key, algorithm="ES256", headers={"x5c": [self._x5c]})
        body: dict[str, object] = {"issued_at": dt.datetime.fromtimestamp(now, dt.UTC).isoformat()}
        if self.token_field in ("both", "token"):
            body["token"] = token
        if self.token_field in ("both", "access_token"):
            body["access_token"] = token
        if self.include_expires_in:
            body["expires_in"] = self.expires_in
        return body


def _make_key_and_cert(directory: Path, common_name: str) -> tuple[ec.EllipticCurvePrivateKey, str, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    bundle = directory / "token-root.pem"
    bundle.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    return key, x5c, bundle


def _handler_for(server: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 30

        def log_message(self, format: str, *args: object) -> None:
            return  # stay quiet: query strings are harmless but headers are not logged either

        def _answer(self, status: int, body: dict[str, object], extra: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _credentials(self) -> tuple[str, str] | Literal[False] | None:
            header = self.headers.get("Authorization")
            if header is None:
                return None
            kind, _, value = header.partition(" ")
            if kind.lower() != "basic":
                return False
            try:
                user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
            return (user, password) if sep else False

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path != "/token":
                self._answer(404, {"errors": [{"code": "NOT_FOUND"}]})
                return
            query = parse_qs(url.query)
            service = query.get("service", [None])[0]
            try:
                scopes = tuple(
                    Scope.parse(part) for value in query.get("scope", []) for part in value.split(" ") if part
                )
            except ValueError:
                self._answer(400, {"errors": [{"code": "INVALID_SCOPE"}]})
                return
            creds = self._credentials()
            authorization_sent = self.headers.get("Authorization") is not None
            username: str | None = None
            if creds is False or (
                creds is not None and not secrets.compare_digest(server.users.get(creds[0], "\0"), creds[1])
            ):
                server._record(TokenRequest(service, scopes, None, 401, (), authorization_sent))
                self._answer(401, {"errors": [{"code": "UNAUTHORIZED"}]}, {"WWW-Authenticate": 'Basic realm="token"'})
                return
            if creds is not None:
                username = creds[0]
            elif not server.anonymous_pull:
                server._record(TokenRequest(service, scopes, None, 401, (), authorization_sent))
                self._answer(401, {"errors": [{"code": "UNAUTHORIZED"}]}, {"WWW-Authenticate": 'Basic realm="token"'})
                return
            granted = server.grant(username, scopes)
            server._record(TokenRequest(service, scopes, username, 200, granted, authorization_sent))
            self._answer(200, server.issue(username, granted))

    return Handler


@contextlib.contextmanager
def start_token_server(
    tmp_dir: Path,
    *,
    users: dict[str, str],
    service: str = "imgsrc-test-registry",
    issuer: str = "imgsrc-test-token-issuer",
    expires_in: int = 300,
    anonymous_pull: bool = True,
) -> Iterator[TokenServer]:
    """Start the token service on a free loopback port; its certificate bundle goes under ``tmp_dir``."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    key, x5c, bundle = _make_key_and_cert(tmp_dir, issuer)
    state = TokenServer(
        realm="",
        service=service,
        issuer=issuer,
        cert_bundle=bundle,
        users=dict(users),
        expires_in=expires_in,
        anonymous_pull=anonymous_pull,
        _key=key,
        _x5c=x5c,
    )
    with serve_in_thread(_handler_for(state), "token-server") as url:
        state.realm = f"{url}/token"
        yield state

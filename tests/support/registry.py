"""A real CNCF distribution registry (``/usr/bin/docker-registry``) for tests.

:func:`start_registry` writes a config, starts the server on a free loopback port with its own storage
directory, waits until ``GET /v2/`` answers, and stops it (terminate, then kill) when the context exits.
Three authentication modes: ``none`` (anonymous push and pull), ``basic`` (an htpasswd file, bcrypt) and
``token`` (the Bearer-token flow, with :mod:`tests.support.tokenserver` as the token service).

The session-scoped fixtures :func:`registry`, :func:`basic_registry` and :func:`token_registry` are meant to
be re-exported by conftest files
(``from tests.support.registry import registry, basic_registry, token_registry``).
Tests that need a registry of their own (custom token options, a registry they may break) call
:func:`start_registry` directly with ``tmp_path``.

Secrets stay off command lines: the htpasswd hash is made with ``htpasswd -i`` (password on stdin), and
:func:`write_authfile` gives skopeo a containers-auth.json instead of ``--creds``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
import yaml

from tests.support.processes import stop
from tests.support.tokenserver import TokenServer, start_token_server

__all__ = [
    "REGISTRY_BINARY",
    "RunningRegistry",
    "basic_registry",
    "free_port",
    "registry",
    "start_registry",
    "token_registry",
    "write_authfile",
]

REGISTRY_BINARY = "/usr/bin/docker-registry"
AuthMode = Literal["none", "basic", "token"]

_STARTUP_TIMEOUT = 20.0
_STOP_TIMEOUT = 5.0


@dataclass
class RunningRegistry:
    """A registry that is up. ``url`` is what clients use; ``host`` is ``url`` without the scheme (for
    ``docker://<host>/<repo>`` references). ``token_server`` is set for ``auth="token"``."""

    url: str
    host: str
    username: str | None
    password: str | None = field(repr=False)
    auth: AuthMode
    token_realm: str | None
    storage_dir: Path
    token_server: TokenServer | None = field(default=None, repr=False)
    log_path: Path | None = None

    @property
    def credentials(self) -> tuple[str, str] | None:
        """``(username, password)`` when the registry needs credentials, else ``None``."""
        if self.auth == "none" or self.username is None or self.password is None:
            return None
        return (self.username, self.password)


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (the caller binds it soon after; races are retried)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_authfile(path: Path, host: str, username: str, password: str) -> Path:
    """Write a containers-auth.json (mode 0600) for ``host`` so skopeo gets credentials without argv."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {host: {"auth": token}}}))
    path.chmod(0o600)
    return path


def _htpasswd_line(username: str, password: str) -> str:
    """A bcrypt htpasswd line, made by ``htpasswd -niB`` with the password on stdin."""
    done = subprocess.run(
        ["htpasswd", "-niB", username],
        input=password + "\n",
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout.strip()


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + _STARTUP_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"docker-registry exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/v2/", timeout=2):  # noqa: S310 - loopback http URL we built
                return
        except urllib.error.HTTPError:
            return  # 401 from an authenticating registry: it is up
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"docker-registry did not answer on {url} within {_STARTUP_TIMEOUT}s")
        # Polling is the only readiness signal the registry offers (no notify socket); the interval is short.
        time.sleep(0.05)


def _config(
    port: int,
    storage_dir: Path,
    auth: AuthMode,
    htpasswd_path: Path | None,
    token: TokenServer | None,
) -> dict[str, object]:
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(storage_dir)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)},
        "health": {"storagedriver": {"enabled": False}},
    }
    if auth == "basic":
        assert htpasswd_path is not None
        config["auth"] = {"htpasswd": {"realm": "imgsrc-test", "path": str(htpasswd_path)}}
    elif auth == "token":
        assert token is not None
        config["auth"] = {
            "token": {
                "realm": token.realm,
                "service": token.service,
                "issuer": token.issuer,
                "rootcertbundle": str(token.cert_bundle),
            }
        }
    return config


@contextlib.contextmanager
def start_registry(
    tmp_dir: Path,
    *,
    auth: AuthMode = "none",
    username: str = "alice",
    password: str | None = None,
    token_expires_in: int = 300,
    token_anonymous_pull: bool = True,
) -> Iterator[RunningRegistry]:
    """Start a registry under ``tmp_dir`` (storage, config, log) and yield it; stop it on exit.

    ``password`` defaults to a random one. For ``auth="token"`` a token service is started too (and stopped
    after the registry); ``token_expires_in`` and ``token_anonymous_pull`` configure it and can also be
    changed later on ``running.token_server``.
    """
    password = password if password is not None else secrets.token_urlsafe(16)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    storage_dir = tmp_dir / "registry-storage"
    storage_dir.mkdir(exist_ok=True)
    log_path = tmp_dir / "registry.log"
    with contextlib.ExitStack() as stack:
        htpasswd_path: Path | None = None
        token: TokenServer | None = None
        if auth == "basic":
            htpasswd_path = tmp_dir / "htpasswd"
            htpasswd_path.write_text(_htpasswd_line(username, password) + "\n")
        elif auth == "token":
            token = stack.enter_context(
                start_token_server(
                    tmp_dir / "token",
                    users={username: password},
                    expires_in=token_expires_in,
                    anonymous_pull=token_anonymous_pull,
                )
            )
        proc: subprocess.Popen[bytes] | None = None
        port = 0
        for _attempt in range(3):  # the free port can be taken between probing and binding: retry
            port = free_port()
            config_path = tmp_dir / "registry-config.yml"
            config_path.write_text(yaml.safe_dump(_config(port, storage_dir, auth, htpasswd_path, token)))
            log = log_path.open("ab")
            stack.callback(log.close)
            proc = subprocess.Popen(
                [REGISTRY_BINARY, "serve", str(config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            )
            try:
                _wait_until_up(f"http://127.0.0.1:{port}", proc, log_path)
                break
            except RuntimeError:
                stop(proc, timeout=_STOP_TIMEOUT)
                proc = None
        if proc is None:
            raise RuntimeError(f"docker-registry failed to start: {log_path.read_text()[-2000:]}")
        stack.callback(stop, proc, timeout=_STOP_TIMEOUT)
        yield RunningRegistry(
            url=f"http://127.0.0.1:{port}",
            host=f"127.0.0.1:{port}",
            username=username if auth != "none" else None,
            password=password if auth != "none" else None,
            auth=auth,
            token_realm=token.realm if token else None,
            storage_dir=storage_dir,
            token_server=token,
            log_path=log_path,
        )


# --- fixtures (re-export from conftest.py) ------------------------------------------------------------------


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """An anonymous registry shared by the session (push and pull without credentials)."""
    with start_registry(tmp_path_factory.mktemp("registry"), auth="none") as running:
        yield running


@pytest.fixture(scope="session")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A registry requiring Basic credentials (htpasswd, bcrypt) shared by the session."""
    with start_registry(tmp_path_factory.mktemp("basic-registry"), auth="basic") as running:
        yield running


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A registry using the Bearer-token flow, shared by the session. Anonymous pull is allowed; push needs
    the credentials. Tests that count token requests should use ``token_server.requests_since(mark)``."""
    with start_registry(tmp_path_factory.mktemp("token-registry"), auth="token") as running:
        yield running

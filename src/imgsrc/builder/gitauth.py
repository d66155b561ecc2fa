"""Credential material for one git fetch: the environment git runs with, and the private files it points at.

HTTP credentials reach git through ``GIT_ASKPASS``: a 0700 script that prints the username or the password
from 0600 files. An ssh private key is written, decrypted, to a 0600 file used through ``GIT_SSH_COMMAND``
(``-i``, ``IdentitiesOnly``, ``BatchMode``; host keys checked against the operator's ``known_hosts`` with
``StrictHostKeyChecking=yes`` when one is configured, else a private, throw-away ``known_hosts`` with
``StrictHostKeyChecking=accept-new``). The key is decrypted here with :mod:`cryptography` rather than handing
the passphrase to ssh through ``SSH_ASKPASS``: ``BatchMode=yes`` (which forbids every prompt, and which ssh honours
by refusing to ask for a passphrase at all) can then stay on, and a wrong passphrase is reported as such before
any connection.

Secret files live in a private directory on memory-backed ``/dev/shm`` when it exists (so a decrypted key never
reaches a disk), else under the work directory; everything is removed when the context exits, whatever
happened. Nothing secret is ever placed on a command line or in the environment itself.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from imgsrc.builder.redact import Redactor
from imgsrc.errors import BuildError, InvalidArgumentError

__all__ = ["GitCredentials", "base_git_env", "default_secrets_parent", "git_credentials"]

# Variables passed through from the server's environment: proxies and CA bundles an operator may rely on.
_PASSTHROUGH = (
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "GIT_SSL_CAINFO",
)


@dataclass(frozen=True)
class GitCredentials:
    """What to authenticate with: HTTP Basic (``http_*``) or an ssh key (``ssh_*``); all optional."""

    http_username: str | None = None
    http_password: str | None = None
    ssh_username: str | None = None
    ssh_private_key: str | None = None
    ssh_passphrase: str | None = None

    def __repr__(self) -> str:
        return (
            f"GitCredentials(http_username={self.http_username!r}, http_password="
            f"{'<set>' if self.http_password else None}, ssh_username={self.ssh_username!r}, "
            f"ssh_private_key={'<set>' if self.ssh_private_key else None})"
        )


def default_secrets_parent(fallback: Path) -> Path:
    """Where private credential directories go: ``/dev/shm`` if it is a writable directory, else ``fallback``."""
    shm = Path("/dev/shm")  # noqa: S108 - memory-backed on purpose; the directory made in it is 0700
    return shm if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else fallback


def base_git_env(home: Path, allowed_protocols: str) -> dict[str, str]:
    """The environment every git command of a fetch runs with: none of the host's git or ssh configuration,
    no prompts, only ``allowed_protocols`` (``GIT_ALLOW_PROTOCOL``; keeps ``ext::`` and friends out), C locale
    so that error messages can be recognised."""
    env = {name: os.environ[name] for name in _PASSTHROUGH if name in os.environ}
    env.update(
        {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": str(home),
            "LC_ALL": "C",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ALLOW_PROTOCOL": allowed_protocols,
            # Without credentials nothing may prompt: an empty askpass answers every question with "".
            "GIT_ASKPASS": "/bin/false",
            "SSH_ASKPASS": "/bin/false",
            "GIT_SSH_COMMAND": "ssh -F /dev/null -o BatchMode=yes",
        }
    )
    return env


def _decrypt_key(private_key: str, passphrase: str | None) -> bytes:
    """The key in OpenSSH format, unencrypted. PEM (PKCS#1, PKCS#8) and OpenSSH inputs are accepted."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

    data = private_key.strip().encode() + b"\n"
    password = passphrase.encode() if passphrase else None
    key: PrivateKeyTypes
    try:
        if b"BEGIN OPENSSH PRIVATE KEY" in data:
            key = serialization.load_ssh_private_key(data, password)
        else:
            key = serialization.load_pem_private_key(data, password)
    except TypeError as exc:
        # cryptography says TypeError for "encrypted but no password" and "password but not encrypted".
        if passphrase:
            # A passphrase for an unencrypted key is harmless: load it without one.
            return _decrypt_key(private_key, None)
        raise BuildError("the ssh private key is encrypted and no passphrase was given") from exc
    except ValueError as exc:
        if passphrase:
            raise BuildError("the ssh private key could not be decrypted: wrong passphrase?") from exc
        raise BuildError("the ssh private key is not a valid PEM or OpenSSH private key") from exc
    except UnsupportedAlgorithm as exc:
        raise BuildError("the ssh private key uses an unsupported algorithm or cipher") from exc
    if not isinstance(
        key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | dsa.DSAPrivateKey
    ):
        raise BuildError("the private key is of a type ssh cannot use")
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )


def _write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _check_username(name: str, what: str) -> None:
    if not name or any(ch.isspace() or ord(ch) < 32 for ch in name) or name.startswith("-"):
        raise InvalidArgumentError(f"the {what} username is not valid")


@contextlib.contextmanager
def git_credentials(
    creds: GitCredentials,
    *,
    transport: str,
    workdir: Path,
    secrets_parent: Path,
    redactor: Redactor,
    known_hosts: Path | None = None,
) -> Iterator[Mapping[str, str]]:
    """Materialise ``creds`` for a fetch over ``transport`` (``http`` or ``ssh``; others need none) and yield
    the environment variables to add to :func:`base_git_env`. Every secret is registered with ``redactor``.
    ``known_hosts`` pins ssh host keys (read only; a host not in it is refused). All files are removed on exit."""
    if transport == "ssh" and known_hosts is not None and not known_hosts.is_file():
        raise BuildError(f"the ssh known_hosts file {known_hosts} (IMGSRC_SSH_KNOWN_HOSTS) does not exist")
    redactor.add(creds.http_password)
    redactor.add(creds.ssh_private_key)
    redactor.add(creds.ssh_passphrase)
    if creds.http_username and creds.http_password:
        redactor.add_basic(creds.http_username, creds.http_password)
    secret_dir = Path(tempfile.mkdtemp(prefix="imgsrc-git-", dir=secrets_parent))
    script_dir = Path(tempfile.mkdtemp(prefix=".git-auth-", dir=workdir))
    try:
        os.chmod(secret_dir, 0o700)
        os.chmod(script_dir, 0o700)
        env: dict[str, str] = {}
        if transport == "http" and (creds.http_username or creds.http_password):
            _check_username(creds.http_username or "", "http")
            _write_private(secret_dir / "username", (creds.http_username or "").encode())
            _write_private(secret_dir / "password", (creds.http_password or "").encode())
            user_file = shlex.quote(str(secret_dir / "username"))
            pass_file = shlex.quote(str(secret_dir / "password"))
            script = script_dir / "askpass"
            # git calls the askpass program with its prompt ("Username for ...", "Password for ...") as $1.
            _write_private(
                script,
                (
                    "#!/bin/sh\n"
                    'case "$1" in\n'
                    f"  Username*) exec cat {user_file} ;;\n"
                    f"  Password*) exec cat {pass_file} ;;\n"
                    "esac\n"
                    "exit 1\n"
                ).encode(),
                mode=0o700,
            )
            env["GIT_ASKPASS"] = str(script)
        elif transport == "ssh":
            ssh = [
                "ssh",
                "-F",
                "/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                f"UserKnownHostsFile={known_hosts or secret_dir / 'known_hosts'}",
                "-o",
                "GlobalKnownHostsFile=/dev/null",
                "-o",
                "StrictHostKeyChecking=" + ("yes" if known_hosts else "accept-new"),
                "-o",
                "ConnectTimeout=30",
                "-o",
                "ServerAliveInterval=15",
                "-o",
                "PasswordAuthentication=no",
                "-o",
                "KbdInteractiveAuthentication=no",
            ]
            if creds.ssh_private_key:
                key_path = secret_dir / "id"
                _write_private(key_path, _decrypt_key(creds.ssh_private_key, creds.ssh_passphrase))
                ssh += ["-i", str(key_path), "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none"]
            if creds.ssh_username:
                _check_username(creds.ssh_username, "ssh")
                ssh += ["-o", f"User={creds.ssh_username}"]
            # git runs GIT_SSH_COMMAND through the shell: every word is quoted.
            env["GIT_SSH_COMMAND"] = shlex.join(ssh)
        yield env
    finally:
        shutil.rmtree(secret_dir, ignore_errors=True)
        shutil.rmtree(script_dir, ignore_errors=True)

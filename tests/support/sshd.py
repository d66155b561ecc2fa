"""A real OpenSSH server for tests, serving git over ssh with public-key authentication only.

:func:`start_sshd` generates a host key, writes ``authorized_keys`` and a minimal ``sshd_config`` under a
temporary directory, starts ``/usr/sbin/sshd -D -e -f <config>`` on a free loopback port and waits for its
"Server listening" line (not a sleep). Logins are as the current user (root in the test environment), so
``ssh://<user>@127.0.0.1:<port>/<absolute path>`` reaches any repository the test created.

:func:`make_keypair` creates an ed25519 (or other) key pair with ``ssh-keygen``; the passphrase reaches it on
the command line, which is acceptable for throwaway test keys only.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import queue
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import stop
from tests.support.registry import free_port

__all__ = ["KeyPair", "RunningSshd", "make_keypair", "start_sshd"]

SSHD = "/usr/sbin/sshd"
_STARTUP_TIMEOUT = 20.0


@dataclass(frozen=True)
class KeyPair:
    private_key: str
    public_key: str
    passphrase: str | None


def make_keypair(directory: Path, name: str, *, passphrase: str | None = None, kind: str = "ed25519") -> KeyPair:
    """A new key pair (OpenSSH private key format; ``-m PEM`` is used for ``kind="rsa-pem"``)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    args = ["ssh-keygen", "-q", "-N", passphrase or "", "-f", str(path), "-C", name]
    if kind == "rsa-pem":
        args += ["-t", "rsa", "-b", "2048", "-m", "PEM"]
    else:
        args += ["-t", kind]
    subprocess.run(args, check=True, capture_output=True, timeout=60)
    return KeyPair(path.read_text(), path.with_suffix(".pub").read_text().strip(), passphrase)


@dataclass
class RunningSshd:
    """A running server: connect as ``user`` to ``127.0.0.1:port``. ``log`` collects sshd's stderr lines."""

    port: int
    user: str
    host_public_key: str
    log: list[str]

    def url(self, path: Path) -> str:
        """An ``ssh://`` URL for the repository at absolute ``path``."""
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path}"


def _config(directory: Path, port: int, host_key: Path, authorized: Path) -> str:
    return "\n".join(
        [
            f"Port {port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {host_key}",
            f"AuthorizedKeysFile {authorized}",
            "PidFile none",
            "UsePAM no",
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "X11Forwarding no",
            "AllowTcpForwarding no",
            "PrintMotd no",
            "LogLevel VERBOSE",
            f"AllowUsers {getpass.getuser()}",
            f"SetEnv PATH={os.environ.get('PATH', '/usr/bin:/bin')}",
            "",
        ]
    )


@contextlib.contextmanager
def start_sshd(directory: Path, authorized_keys: list[str]) -> Iterator[RunningSshd]:
    """Run sshd accepting ``authorized_keys`` until the context exits."""
    directory.mkdir(parents=True, exist_ok=True)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
    host_key = directory / "host_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    authorized = directory / "authorized_keys"
    authorized.write_text("".join(key + "\n" for key in authorized_keys))
    authorized.chmod(0o600)
    for _attempt in range(3):  # the probed port can be taken before sshd binds it: retry
        port = free_port()
        config = directory / "sshd_config"
        config.write_text(_config(directory, port, host_key, authorized))
        proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        log: list[str] = []
        lines: queue.Queue[str | None] = queue.Queue()

        def pump(stream: object = proc.stderr, sink: queue.Queue[str | None] = lines) -> None:
            assert stream is not None
            for line in stream:  # type: ignore[attr-defined]
                sink.put(line.rstrip())
            sink.put(None)

        threading.Thread(target=pump, name="sshd-stderr", daemon=True).start()
        listening = False
        while True:
            try:
                line = lines.get(timeout=_STARTUP_TIMEOUT)
            except queue.Empty:
                break
            if line is None:
                break
            log.append(line)
            if "Server listening on 127.0.0.1" in line:
                listening = True
                break
        if listening:
            break
        proc.kill()
        proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()
    else:
        raise RuntimeError("sshd failed to start: " + "\n".join(log[-20:]))

    def collect() -> None:
        while (line := lines.get()) is not None:
            log.append(line)

    collector = threading.Thread(target=collect, name="sshd-log", daemon=True)
    collector.start()
    try:
        yield RunningSshd(
            port=port,
            user=getpass.getuser(),
            host_public_key=host_key.with_suffix(".pub").read_text().strip(),
            log=log,
        )
    finally:
        stop(proc, timeout=5)
        collector.join(timeout=5)
        if proc.stderr is not None:
            proc.stderr.close()

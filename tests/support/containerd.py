"""A real containerd for tests: the runtime Kubernetes nodes pull with.

:func:`start_containerd` writes a minimal config (its own root, state and socket; the CRI plugin off), starts
``containerd`` and waits until ``ctr version`` answers on the socket (not a sleep). :meth:`RunningContainerd.ctr`
runs ``ctr`` against it. The socket lives in a short private directory under ``/tmp``: unix socket paths are
limited to 108 bytes, which pytest's temporary paths can exceed.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import stop

__all__ = ["RunningContainerd", "start_containerd"]

_STARTUP_TIMEOUT = 30.0


@dataclass(frozen=True)
class RunningContainerd:
    socket: Path
    log: Path

    def ctr(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``ctr --address <socket> <args>`` (not checked: the caller asserts on the outcome)."""
        return subprocess.run(
            ["ctr", "--address", str(self.socket), *args], capture_output=True, text=True, timeout=timeout, check=False
        )

    def pull(self, reference: str, *, user: str, platform_args: tuple[str, ...] = ()) -> str:
        """Pull and unpack ``reference`` over plain HTTP as ``user`` (``name:password``; ``ctr`` takes
        credentials only on its command line, acceptable for test keys) and return the digest containerd
        recorded for it. Raises ``AssertionError`` if the pull fails or (for the host's platform) leaves content
        missing; callers pulling another platform check its content themselves."""
        pulled = self.ctr(
            "images", "pull", "--plain-http", "--snapshotter", "native", "--user", user, *platform_args, reference
        )
        assert pulled.returncode == 0, pulled.stderr[-2000:]
        if not platform_args:  # `ctr images check` judges the host's platform only
            checked = self.ctr("images", "check", f"name=={reference}")
            assert "complete" in checked.stdout, checked.stdout
        shown = self.ctr("images", "ls", f"name=={reference}")
        return next(word for word in shown.stdout.split() if word.startswith("sha256:"))


@contextlib.contextmanager
def start_containerd(directory: Path) -> Iterator[RunningContainerd]:
    """Start containerd with everything under ``directory`` (and its socket in a short temporary directory);
    stop it on exit."""
    short = Path(tempfile.mkdtemp(prefix="ctd-", dir="/tmp"))
    socket = short / "containerd.sock"
    config = directory / "containerd.toml"
    log = directory / "containerd.log"
    config.write_text(
        "version = 2\n"
        f'root = "{directory / "root"}"\n'
        f'state = "{short / "state"}"\n'
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        "[grpc]\n"
        f'address = "{socket}"\n'
    )
    with log.open("w") as sink:
        proc = subprocess.Popen(["containerd", "--config", str(config)], stdout=sink, stderr=subprocess.STDOUT)
    running = RunningContainerd(socket=socket, log=log)
    try:
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        while running.ctr("version", timeout=10).returncode != 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"containerd did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield running
    finally:
        stop(proc, timeout=20)
        shutil.rmtree(short, ignore_errors=True)

"""What this host's buildah can do: which storage driver and which isolation work. Probed once per process
(the answers do not change while it runs) and cached; :func:`forget_probes` clears the cache for tests.

- Storage driver: ``overlay`` if a container made from ``scratch`` can be mounted with it (it cannot on top of
  another overlay, on some kernels, or without privileges), else ``vfs`` (always works, copies every layer).
- Isolation: ``oci`` (runc, with its own namespaces and a private network) if a probe container actually runs
  a command under runc; else ``chroot``. The probe container is empty, so the host's ``/usr`` (and the
  ``/bin``, ``/lib``… directories or symbolic links beside it) are lent to it read-only to run ``true``.
  ``settings.builder_isolation`` other than ``auto`` skips the isolation probe.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from imgsrc.aio import finish_uncancelled
from imgsrc.builder.redact import Redactor
from imgsrc.builder.runner import run_streaming
from imgsrc.builder.storage import BuildStorage
from imgsrc.settings import Settings

__all__ = ["Probe", "detect_isolation", "detect_storage_driver", "forget_probes", "probe_host"]

_PROBE_TIMEOUT = 120.0
_ROOT_ENTRIES = ("bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr")
_CONTAINER = "imgsrc-probe"

# Process-wide cache by isolation setting, filled lazily on first use (nothing is probed at import).
_cache: dict[str, Probe] = {}


@dataclass(frozen=True)
class Probe:
    """The outcome of probing: the storage driver and isolation to use, and why (for the build log)."""

    driver: str
    isolation: str
    notes: tuple[str, ...] = ()


def forget_probes() -> None:
    """Forget cached probe results (tests)."""
    _cache.clear()


async def _run(argv: list[str], env: dict[str, str]) -> tuple[int, list[str]]:
    lines: list[str] = []
    result = await run_streaming(
        argv, env=env, on_line=lines.append, redactor=Redactor(), what=argv[0], time_limit=_PROBE_TIMEOUT
    )
    return result.returncode, lines


async def _with_storage(workdir: Path, driver: str, body: Callable[[BuildStorage], Awaitable[bool]]) -> bool:
    storage = BuildStorage.create(workdir, driver, use_disk=True)
    try:
        storage.write_config(registries="", auth='{"auths": {}}\n')
        return await body(storage)
    finally:
        await finish_uncancelled(asyncio.to_thread(storage.remove))


async def _driver_works(workdir: Path, driver: str) -> bool:
    async def body(storage: BuildStorage) -> bool:
        env = storage.env()
        code, _ = await _run(["buildah", *storage.args, "from", "--name", _CONTAINER, "scratch"], env)
        if code != 0:
            return False
        code, _ = await _run(["buildah", *storage.args, "mount", _CONTAINER], env)
        return code == 0

    return await _with_storage(workdir, driver, body)


def _true_binary() -> str | None:
    found = shutil.which("true")
    return os.path.realpath(found) if found else None


async def _oci_works(workdir: Path, driver: str) -> bool:
    true = _true_binary()
    if shutil.which("runc") is None or true is None:
        return False

    async def body(storage: BuildStorage) -> bool:
        env = storage.env()
        code, _ = await _run(["buildah", *storage.args, "from", "--name", _CONTAINER, "scratch"], env)
        if code != 0:
            return False
        code, lines = await _run(["buildah", *storage.args, "mount", _CONTAINER], env)
        if code != 0 or not lines:
            return False
        rootfs = Path(lines[-1].strip())
        volumes: list[str] = []
        for name in _ROOT_ENTRIES:
            host = Path("/") / name
            if host.is_symlink():
                (rootfs / name).symlink_to(os.readlink(host))
            elif host.is_dir():
                volumes += ["--volume", f"{host}:{host}:ro"]
        argv = ["buildah", *storage.args, "run", "--isolation=oci", *volumes, _CONTAINER, true]
        code, _ = await _run(argv, env)
        return code == 0

    return await _with_storage(workdir, driver, body)


async def probe_host(settings: Settings, workdir: Path) -> Probe:
    """Probe (once per process and isolation setting) the storage driver and isolation to use; ``workdir``
    hosts the probe's throw-away storage."""
    cached = _cache.get(settings.builder_isolation)
    if cached is not None:
        return cached
    notes: list[str] = []
    driver = "overlay" if await _driver_works(workdir, "overlay") else "vfs"
    if driver == "vfs":
        notes.append("the overlay storage driver does not work here: using vfs")
    if settings.builder_isolation != "auto":
        isolation: str = settings.builder_isolation
    elif await _oci_works(workdir, driver):
        isolation = "oci"
    else:
        isolation = "chroot"
        notes.append("runc isolation does not work here: using chroot")
    probe = _cache[settings.builder_isolation] = Probe(driver, isolation, tuple(notes))
    return probe


async def detect_storage_driver(settings: Settings, workdir: Path) -> str:
    """``overlay`` or ``vfs`` (cached after the first probe)."""
    return (await probe_host(settings, workdir)).driver


async def detect_isolation(settings: Settings, workdir: Path) -> str:
    """``oci`` or ``chroot``: the setting when it forces one, else the (cached) probe's answer."""
    return (await probe_host(settings, workdir)).isolation

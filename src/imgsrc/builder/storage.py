"""Per-build buildah storage and configuration, and its complete removal.

Every build (and every probe) gets its own storage under the work directory — ``--root``/``--runroot``, a
private ``HOME`` holding ``registries.conf``, a ``storage.conf`` — so builds never share state, never see the
host's images, and can be thrown away whole. Scratch space (``TMPDIR``: pulled blobs, the runtime bundle)
sits on memory-backed ``/dev/shm`` unless the build asks for disk or ``/dev/shm`` lacks room. The auth file
goes to a private directory on ``/dev/shm`` too when possible, so registry tokens never reach a disk.

Removal (:meth:`BuildStorage.remove`) must work after anything — success, failure, timeout, a SIGKILLed
buildah: containers run by runc in their own session survive their buildah and are killed through runc (found
by their bundle, which buildah keeps in this build's ``TMPDIR``); then ``buildah rm -a`` and ``rmi -a -f``;
then every mount left under the build's directories is detached (deepest first); then the files go.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from imgsrc.builder.buildah import storage_args, storage_conf

__all__ = ["SCRATCH_MIN_FREE_BYTES", "BuildStorage", "mounts_under", "unmount_under"]

SCRATCH_MIN_FREE_BYTES = 2 * 1024**3
_SHM = Path("/dev/shm")  # noqa: S108 - memory-backed scratch on purpose; every directory made there is 0700
_MNT_DETACH = 2
_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")
_CLEANUP_TIMEOUT = 120.0
_PASSTHROUGH = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")


def _unescape_mountinfo(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo (octal).
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def mounts_under(path: Path) -> list[Path]:
    """Mount points at or below ``path`` in this process's mount namespace, deepest first."""
    prefix = str(path).rstrip("/")
    found: list[Path] = []
    with contextlib.suppress(OSError), open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            fields = line.split(" ")
            if len(fields) < 5:
                continue
            point = _unescape_mountinfo(fields[4])
            if point == prefix or point.startswith(prefix + "/"):
                found.append(Path(point))
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


def unmount_under(path: Path) -> list[str]:
    """Detach every mount at or below ``path`` (``umount2(MNT_DETACH)``); return problems, if any."""
    libc = ctypes.CDLL(None, use_errno=True)
    problems: list[str] = []
    for point in mounts_under(path):
        if libc.umount2(os.fsencode(point), _MNT_DETACH) != 0:
            errno = ctypes.get_errno()
            problems.append(f"umount {point}: {os.strerror(errno)}")
    return problems


def _private_dir(parent: Path, prefix: str) -> Path:
    directory = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    directory.chmod(0o700)
    return directory


def _shm_has_room() -> bool:
    try:
        stats = os.statvfs(_SHM)
    except OSError:
        return False
    writable = os.access(_SHM, os.W_OK | os.X_OK)
    return writable and stats.f_bavail * stats.f_frsize >= SCRATCH_MIN_FREE_BYTES


@dataclass
class BuildStorage:
    """The directories and configuration of one build. Create with :meth:`create`; always :meth:`remove`."""

    base: Path
    driver: str
    graphroot: Path
    runroot: Path
    home: Path
    tmpdir: Path
    secrets: Path
    scratch_in_memory: bool

    @classmethod
    def create(cls, workdir: Path, driver: str, *, use_disk: bool) -> BuildStorage:
        """Lay out a fresh storage under ``workdir`` (scratch on ``/dev/shm`` unless ``use_disk`` or no room)."""
        base = _private_dir(workdir, "buildah-")
        in_memory = not use_disk and _shm_has_room()
        tmpdir = _private_dir(_SHM, "imgsrc-scratch-") if in_memory else base / "tmp"
        secrets_parent = _SHM if _SHM.is_dir() and os.access(_SHM, os.W_OK | os.X_OK) else base
        storage = cls(
            base=base,
            driver=driver,
            graphroot=base / "root",
            runroot=base / "runroot",
            home=base / "home",
            tmpdir=tmpdir,
            secrets=_private_dir(secrets_parent, "imgsrc-auth-"),
            scratch_in_memory=in_memory,
        )
        for directory in (storage.graphroot, storage.runroot, storage.home, storage.tmpdir):
            directory.mkdir(mode=0o700, exist_ok=True)
        (base / "storage.conf").write_text(storage_conf(driver, storage.graphroot, storage.runroot))
        return storage

    @property
    def args(self) -> list[str]:
        """Global buildah options selecting this storage."""
        return storage_args(self.driver, self.graphroot, self.runroot)

    @property
    def authfile(self) -> Path:
        return self.secrets / "auth.json"

    def write_config(self, *, registries: str, auth: str) -> None:
        """Write the private registries.conf (in ``$HOME/.config/containers``) and the 0600 auth file."""
        conf_dir = self.home / ".config" / "containers"
        conf_dir.mkdir(parents=True, exist_ok=True)
        (conf_dir / "registries.conf").write_text(registries)
        fd = os.open(self.authfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(auth)

    def env(self) -> dict[str, str]:
        """The environment buildah runs with: nothing from the host's container configuration."""
        env = {name: os.environ[name] for name in _PASSTHROUGH if name in os.environ}
        env.update(
            {
                "PATH": os.environ.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
                "HOME": str(self.home),
                "XDG_CONFIG_HOME": str(self.home / ".config"),
                "XDG_RUNTIME_DIR": str(self.runroot),
                "TMPDIR": str(self.tmpdir),
                "CONTAINERS_STORAGE_CONF": str(self.base / "storage.conf"),
                "REGISTRY_AUTH_FILE": str(self.authfile),
                "LC_ALL": "C",
            }
        )
        return env

    def _buildah(self, *args: str) -> None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                ["buildah", *self.args, *args],
                env=self.env(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=_CLEANUP_TIMEOUT,
                check=False,
            )

    def _kill_runc_strays(self) -> None:
        """Kill and delete runc containers whose bundle lives in this build's scratch directory: those of a
        buildah that was SIGKILLed (runc runs them in their own session, out of reach of the group kill)."""
        if shutil.which("runc") is None:
            return
        try:
            listed = subprocess.run(["runc", "list", "--format", "json"], capture_output=True, timeout=30, check=False)
            containers = json.loads(listed.stdout or b"null") or []
        except (OSError, subprocess.SubprocessError, ValueError):
            return
        scratch = str(self.tmpdir).rstrip("/") + "/"
        for container in containers:
            bundle, ident = str(container.get("bundle", "")), str(container.get("id", ""))
            if not ident or not bundle.startswith(scratch):
                continue
            for argv in (["runc", "kill", ident, "KILL"], ["runc", "delete", "--force", ident]):
                with contextlib.suppress(OSError, subprocess.SubprocessError):
                    subprocess.run(argv, capture_output=True, timeout=30, check=False)

    def remove(self) -> list[str]:
        """Remove everything this build left (blocking; run it in a thread). Returns problems that remain —
        empty when the removal was complete."""
        self._kill_runc_strays()
        if self.graphroot.exists():
            self._buildah("rm", "--all")
            self._buildah("rmi", "--all", "--force")
        problems: list[str] = []
        for directory in (self.base, self.tmpdir, self.secrets):
            problems += unmount_under(directory)
            shutil.rmtree(directory, ignore_errors=True)
            if directory.exists():
                problems.append(f"{directory} could not be removed")
        return problems

"""containers-storage flags for buildah and podman run by tests and benchmarks: a private root and run root, so
that nothing touches the machine's own image store."""

from __future__ import annotations

from pathlib import Path

__all__ = ["storage_args"]


def storage_args(directory: Path, driver: str = "vfs") -> list[str]:
    """``--root``, ``--runroot`` (under ``directory``) and ``--storage-driver`` for buildah or podman (podman
    wants the run root under 50 characters: give it a short ``directory``)."""
    return ["--root", str(directory / "root"), "--runroot", str(directory / "run"), "--storage-driver", driver]

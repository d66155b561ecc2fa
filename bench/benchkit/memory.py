"""Peak memory of another process, read from ``/proc/<pid>/status``.

``VmHWM`` is the process's own high-water mark of resident memory. ``ru_maxrss`` is not used: Linux carries it
over from the parent across fork and exec, so a small child of a big parent reports the parent's peak.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["peak_kib", "reset_peak", "rss_kib"]


def _field_kib(pid: int, name: str) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    for line in status.splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no {name}")


def peak_kib(pid: int) -> int:
    """The process's peak resident memory (``VmHWM``) in KiB."""
    return _field_kib(pid, "VmHWM")


def rss_kib(pid: int) -> int:
    """The process's current resident memory (``VmRSS``) in KiB."""
    return _field_kib(pid, "VmRSS")


def reset_peak(pid: int) -> None:
    """Reset ``VmHWM`` to the current RSS (``clear_refs`` value 5, Linux >= 4.0), so that the next reading is the
    peak of what happens from now on."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")

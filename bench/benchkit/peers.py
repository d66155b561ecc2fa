"""Run a peer's command (skopeo, buildah) the way the benchmarks measure it: wall time from start to exit, the
CPU time it used (user and system, its waited-for children included, from ``wait4``), and the command's own peak
resident memory, sampled from ``/proc/<pid>/status`` while it runs.

A helper thread blocks in ``wait4`` so the exit is seen at once (the wall time is not rounded up to a polling
interval). ``VmHWM`` only grows, so its last reading before exit is at most one sampling interval short of the
true peak. The peak is that of the command's main process, not of its children (buildah's runc, for one).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchkit import memory

__all__ = ["PeerRun", "run_peer"]

_SAMPLE_SECONDS = 0.05


@dataclass(frozen=True)
class PeerRun:
    seconds: float
    cpu_seconds: float
    peak_kib: int | None

    @property
    def peak_mib(self) -> float | None:
        return self.peak_kib / 1024 if self.peak_kib is not None else None


@dataclass
class _Exit:
    done: threading.Event
    at: float = 0.0
    status: int = 0
    cpu_seconds: float = 0.0


def _reap(pid: int, exit_: _Exit) -> None:
    _, status, usage = os.wait4(pid, 0)
    exit_.at = time.perf_counter()
    exit_.status = status
    exit_.cpu_seconds = usage.ru_utime + usage.ru_stime
    exit_.done.set()


def run_peer(
    argv: Sequence[str], *, timeout: float = 1800.0, log: Path | None = None, env: dict[str, str] | None = None
) -> PeerRun:
    """Run ``argv`` to completion (output to ``log`` or discarded); raise with the output's tail if it fails."""
    out = log.open("wb") if log is not None else None
    try:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(argv),
            stdout=out if out is not None else subprocess.DEVNULL,
            stderr=subprocess.STDOUT if out is not None else subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        exit_ = _Exit(threading.Event())
        reaper = threading.Thread(target=_reap, args=(process.pid, exit_), daemon=True)
        reaper.start()
        peak: int | None = None
        while not exit_.done.wait(_SAMPLE_SECONDS):
            # The process may exit between the wait and the read (and a zombie has no VmHWM).
            with contextlib.suppress(FileNotFoundError, ProcessLookupError, RuntimeError):
                peak = memory.peak_kib(process.pid)
            if time.perf_counter() > started + timeout:
                process.kill()
                exit_.done.wait()
                raise RuntimeError(f"{argv[0]} did not finish within {timeout:.0f}s")
        reaper.join()
        process.returncode = os.waitstatus_to_exitcode(exit_.status)  # reaped by wait4, not by Popen
    finally:
        if out is not None:
            out.close()
    if process.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log is not None else ""
        raise RuntimeError(f"{' '.join(argv[:3])}… exited with {process.returncode}: {tail}")
    return PeerRun(exit_.at - started, exit_.cpu_seconds, peak)

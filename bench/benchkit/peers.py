"""Run a peer's command (skopeo, buildah) the way the benchmarks measure it: wall time from start to exit, and
the command's own peak resident memory, sampled from ``/proc/<pid>/status`` while it runs.

``VmHWM`` only grows, so its last reading before exit is at most one sampling interval short of the true peak.
The peak is that of the command's main process, not of its children (buildah's runc, for one).
"""

from __future__ import annotations

import contextlib
import subprocess
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
    peak_kib: int | None


def run_peer(argv: Sequence[str], *, timeout: float = 1800.0, log: Path | None = None) -> PeerRun:
    """Run ``argv`` to completion (output to ``log`` or discarded); raise with the output's tail if it fails."""
    out = log.open("wb") if log is not None else None
    try:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(argv),
            stdout=out if out is not None else subprocess.DEVNULL,
            stderr=subprocess.STDOUT if out is not None else subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        peak: int | None = None
        deadline = started + timeout
        while True:
            try:
                code = process.wait(timeout=_SAMPLE_SECONDS)
                break
            except subprocess.TimeoutExpired:
                pass
            # The process may exit between the wait and the read (and a zombie has no VmHWM).
            with contextlib.suppress(FileNotFoundError, ProcessLookupError, RuntimeError):
                peak = memory.peak_kib(process.pid)
            if time.perf_counter() > deadline:
                process.kill()
                process.wait()
                raise RuntimeError(f"{argv[0]} did not finish within {timeout:.0f}s")
        seconds = time.perf_counter() - started
    finally:
        if out is not None:
            out.close()
    if code != 0:
        tail = log.read_text(errors="replace")[-2000:] if log is not None else ""
        raise RuntimeError(f"{' '.join(argv[:3])}… exited with {code}: {tail}")
    return PeerRun(seconds, peak)

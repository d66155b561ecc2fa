"""Medians, ratios, the printed table and the JSON result file of a benchmark.

Every result file records the machine and the method along with the raw per-round figures, so a number in
``docs/benchmarks.md`` can be traced back to the run that produced it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["RESULTS_DIR", "machine", "median", "print_table", "ratio", "write_results"]

RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def ratio(ours: float, theirs: float) -> float:
    return ours / theirs if theirs else float("inf")


def _version(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    return done.stdout.strip() or None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    """What the figures were measured on (the machine is shared: the load average says how quiet it was)."""
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    total_kib = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:"))
    return {
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "memory_mib": total_kib // 1024,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "skopeo": _version(["skopeo", "--version"]),
        "buildah": _version(["buildah", "--version"]),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain aligned table: the first column left-aligned, the others right-aligned."""
    cells = [[str(c) for c in header], *[[_cell(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"\n{title}")
    for n, row in enumerate(cells):
        line = "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        print(line)
        if n == 0:
            print("  ".join("-" * w for w in widths))


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def write_results(name: str, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plus the date and the machine) to ``bench/results/<name>-<UTC time>.json``."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    document = {"benchmark": name, "date": now.isoformat(timespec="seconds"), "machine": machine(), **payload}
    path = RESULTS_DIR / f"{name}-{now:%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path

"""Profile the imgsrc server during one registry import (the diagnosis behind ``import_vs_skopeo.py``).

    .venv/bin/python bench/profile_import.py [--size-mib 1024] [--layers 10] [--rate 250] [--format speedscope]

Same set-up as ``import_vs_skopeo.py`` (cached layers, local registry, ``imgsrc serve`` on a fresh data
directory). ``py-spy record`` (``pip install py-spy``) samples every thread of the server process while one import
runs; the profile is written to ``bench/results/profile_import-<time>.<ext>`` (speedscope JSON by default: open it
at https://www.speedscope.app, or pass ``--format flamegraph`` for an SVG). Also prints the server's CPU seconds
(user and system, all threads, from ``/proc/<pid>/stat``) against the import's wall time, and the top functions
by own samples.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support; bench/ is already on the path

from tests.support.images import push_image
from tests.support.registry import start_registry

from benchkit.api import Api
from benchkit.cpu import cpu_seconds
from benchkit.layers import cached_layers
from benchkit.report import RESULTS_DIR
from benchkit.server import imgsrc_server


def _per_thread(profile: Path) -> list[tuple[str, float]]:
    """Sampled seconds of each thread (speedscope weights are seconds)."""
    document = json.loads(profile.read_text())
    return sorted(((p["name"], float(sum(p["weights"]))) for p in document["profiles"]), key=lambda t: -t[1])


def _top_functions(profile: Path, count: int = 25) -> list[tuple[str, float]]:
    """Self-time shares from a speedscope profile (sampled: each sample is one stack of one thread)."""
    document = json.loads(profile.read_text())
    frames = document["shared"]["frames"]
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for prof in document["profiles"]:
        for stack, weight in zip(prof["samples"], prof["weights"], strict=True):
            total += weight
            if stack:
                frame = frames[stack[-1]]
                own[f"{frame['name']} ({Path(frame.get('file', '?')).name}:{frame.get('line', '?')})"] += weight
    return [(name, weight / total) for name, weight in own.most_common(count)] if total else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=10)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--format", choices=("speedscope", "flamegraph"), default="speedscope")
    parser.add_argument("--native", action="store_true", help="include native (C) frames")
    parser.add_argument("--src", type=Path, help="run the server from this tree holding the imgsrc package")
    parser.add_argument("--gil", action="store_true", help="only sample the thread holding the GIL")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy")

    layers = cached_layers(args.size_mib, args.layers)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}"
    output = RESULTS_DIR / f"profile_import-{stamp}.{'json' if args.format == 'speedscope' else 'svg'}"
    with tempfile.TemporaryDirectory(prefix="imgsrc-bench-") as tmp, start_registry(Path(tmp) / "reg") as reg:
        work = Path(tmp)
        push_image(reg, work, "bench/big", "v1", layers=layers, keep_layout=False)
        origin = {"type": "docker-registry", "details": {"target": "bench/big:v1", "url": reg.url}}
        with imgsrc_server(work / "imgsrc", src=args.src) as server, Api(server) as api:
            source_id = str(api.create_source(origin)["id"])
            argv = [py_spy, "record", "--pid", str(server.pid), "--rate", str(args.rate), "--format", args.format,
                    "--output", str(output), "--threads", "--nonblocking"]  # fmt: skip
            argv += ["--native"] if args.native else []
            argv += ["--gil"] if args.gil else []
            spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=(work / "py-spy.log").open("wb"))
            time.sleep(1.0)  # py-spy attaches asynchronously and offers no readiness signal
            before = cpu_seconds(server.pid)
            result = api.import_new_image(source_id)
            after = cpu_seconds(server.pid)
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
    user, system = after[0] - before[0], after[1] - before[1]
    print(f"import of {args.size_mib} MiB in {args.layers} layers: {result.seconds:.2f}s wall")
    print(f"server CPU during it: user {user:.2f}s + system {system:.2f}s = {user + system:.2f}s "
          f"({(user + system) / result.seconds:.2f} cores of {os.cpu_count()})")  # fmt: skip
    print(f"profile: {output}")
    if args.format == "speedscope" and output.exists():
        print("\nsampled seconds per thread" + (" (holding the GIL)" if args.gil else " (idle excluded)") + ":")
        for name, seconds in _per_thread(output):
            if seconds >= 0.01:
                print(f"  {seconds:6.2f}s  {name}")
        print("\nown samples (all threads):")
        for name, share in _top_functions(output):
            print(f"  {share:6.1%}  {name}")


if __name__ == "__main__":
    main()

"""Benchmark (issue 4): a Dockerfile build through the imgsrc API, end to end, vs ``buildah bud`` + ``buildah push``
of the same Dockerfile run by hand.

    .venv/bin/python bench/build_overhead.py [--rounds 3] [--src DIR]

Set-up (not timed): the busybox base image of ``tests/support/baseimage.py`` pushed to a local CNCF distribution
registry as ``library/busybox:latest``; a small multi-stage Dockerfile (see ``DOCKERFILE``) and one file as build
context, served as ``.tar.gz`` from a loopback HTTP server; the storage driver and isolation imgsrc's builder
probes on this host (:func:`imgsrc.builder.probe.probe_host`), so that the hand-run build uses the same.

Each round runs every side, the first side rotating from round to round, with a ``sync`` (not timed) after each:

- **buildah** (by hand): in a fresh storage directory (so the base image is pulled, as imgsrc's private storage
  does), ``buildah bud`` with the same driver, isolation, ``--layers=false --format=oci`` and
  ``FROM <registry>/library/busybox`` (``--tls-verify=false``), then ``buildah push <id> oci:<fresh dir>:latest``.
  Timed: both commands; the storage's removal afterwards is not.
- **imgsrc**: ``imgsrc serve`` on a fresh data directory with ``IMGSRC_DOCKERHUB_REGISTRY_URL`` at the local
  registry (so its ``FROM busybox`` pulls the same base), a ``docker-file`` source with ``targz_url``. Timed as an
  import: ``POST /v1/images`` → ``POST …/tasks`` → poll the job every ``--poll`` s → ``GET`` shows ``live``
  (context download, private storage set-up, build, push to a layout, verify, save, clean-up). Two builds per
  server: the **first** pays the builder's one-off host probe (once per process); the **second** (a new image of
  the same source, built again from scratch) is the steady state and the headline figure. Polling rounds the time
  up to the next poll (up to ``--poll`` s, about 8 % of this build), so the span ended by the job's ``completed``
  timestamp (same host, same clock) is reported beside it, with the job's step times.
- **proposed** (only with ``--src DIR``): the imgsrc side again with the server run from ``DIR`` (a tree holding
  a changed ``imgsrc`` package), to measure a proposed change side by side.

Prints each round, then medians, the ratio imgsrc (steady) / buildah (goal <= 1.2) and the job's step times;
writes the figures to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import io
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support; bench/ is already on the path

from tests.support.baseimage import make_busybox_layout, push_image
from tests.support.fileserver import serve_files
from tests.support.registry import start_registry
from tests.support.storage import storage_args

from benchkit.api import Api
from benchkit.peers import run_peer
from benchkit.report import median, print_table, ratio, write_results
from benchkit.rounds import Side, alternate
from benchkit.server import imgsrc_server
from imgsrc.builder.probe import probe_host
from imgsrc.builder.storage import unmount_under
from imgsrc.settings import Settings

GOAL_RATIO = 1.2
BASE = "library/busybox"
DOCKERFILE = """\
FROM {base} AS compile
COPY app.txt /src/app.txt
RUN mkdir /out && cat /src/app.txt /src/app.txt > /out/artifact && echo compiled >> /out/artifact
FROM {base}
COPY --from=compile /out/artifact /artifact
RUN echo built > /built
CMD ["cat", "/artifact"]
"""
APP_TXT = "".join(f"line {n}: the quick brown fox jumps over the lazy dog\n" for n in range(2000))


def _targz(files: Mapping[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, text in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buffer.getvalue(), mtime=0)


class HandBuild:
    """``buildah bud`` + ``buildah push`` as a person would run them, in a fresh storage per round."""

    def __init__(self, work: Path, registry_host: str, driver: str, isolation: str) -> None:
        self.work, self.driver, self.isolation = work, driver, isolation
        self.context = work / "hand-context"
        self.context.mkdir()
        (self.context / "Dockerfile").write_text(DOCKERFILE.format(base=f"{registry_host}/{BASE}"))
        (self.context / "app.txt").write_text(APP_TXT)

    def __call__(self, n: int) -> dict[str, Any]:
        store = self.work / f"hand-storage-{n}"
        storage = storage_args(store, self.driver)
        iid, layout = self.work / f"hand-iid-{n}", self.work / f"hand-layout-{n}"
        try:
            bud = run_peer(
                ["buildah", *storage, "bud", f"--isolation={self.isolation}", "--layers=false", "--format=oci",
                 "--tls-verify=false", "--quiet", f"--iidfile={iid}", str(self.context)],
                log=self.work / f"hand-bud-{n}.log",
            )  # fmt: skip
            push = run_peer(
                ["buildah", *storage, "push", "--quiet", "--format=oci", iid.read_text().strip(),
                 f"oci:{layout}:latest"],
                log=self.work / f"hand-push-{n}.log",
            )  # fmt: skip
        finally:
            subprocess.run(["buildah", *storage, "rmi", "--all", "--force"], capture_output=True, check=False)
            unmount_under(store)
            shutil.rmtree(store, ignore_errors=True)
        if not (layout / "index.json").is_file():
            raise RuntimeError("buildah push wrote no OCI layout")
        shutil.rmtree(layout)
        return {
            "seconds": bud.seconds + push.seconds,
            "bud_seconds": bud.seconds,
            "push_seconds": push.seconds,
            "cpu_seconds": bud.cpu_seconds + push.cpu_seconds,
        }


class ApiBuild:
    """Two builds through the API on a fresh server: the first (host probe included) and the steady state."""

    def __init__(self, work: Path, registry_url: str, targz_url: str, poll: float, src: Path | None = None) -> None:
        self.work, self.registry_url, self.targz_url, self.poll, self.src = work, registry_url, targz_url, poll, src

    def __call__(self, n: int) -> dict[str, Any]:
        data_dir = self.work / f"imgsrc-{n}{'-src' if self.src else ''}"
        env = {"IMGSRC_DOCKERHUB_REGISTRY_URL": self.registry_url}
        with imgsrc_server(data_dir, env=env, src=self.src) as server, Api(server) as api:
            source_id = str(api.create_source({"type": "docker-file", "details": {"targz_url": self.targz_url}})["id"])
            first = api.import_new_image(source_id, poll_seconds=self.poll)
            cpu_before = server.cpu_seconds()
            steady = api.import_new_image(source_id, poll_seconds=self.poll)
            cpu = server.cpu_seconds() - cpu_before
            log = api.build_log(steady.image_id)
        shutil.rmtree(data_dir)
        return {
            "seconds": steady.seconds,
            "live_seconds": steady.live_seconds,
            "job_seconds": steady.job_seconds,
            "pickup_seconds": steady.pickup_seconds,
            "server_cpu_seconds": cpu,
            "steps": steady.steps(),
            "first_seconds": first.seconds,
            "first_live_seconds": first.live_seconds,
            "first_steps": first.steps(),
            "build_log": log.splitlines(),
        }


def _print_round(n: int, result: dict[str, Any]) -> None:
    theirs = result["buildah"]
    line = f"round {n + 1} ({', '.join(result['order'])}): buildah {theirs['seconds']:.2f}s "
    line += f"(bud {theirs['bud_seconds']:.2f} + push {theirs['push_seconds']:.2f})"
    for side in result["order"]:
        if side != "buildah":
            ours = result[side]
            line += f"; {side} {ours['seconds']:.2f}s (first build on the server {ours['first_seconds']:.2f}s)"
    print(line)


def _summary(rounds: list[dict[str, Any]], side: str) -> dict[str, Any]:
    def med(who: str, key: str) -> float:
        return median([r[who][key] for r in rounds])

    buildah_s, imgsrc_s, first_s = med("buildah", "seconds"), med(side, "seconds"), med(side, "first_seconds")
    names = list(rounds[0][side]["steps"])
    return {
        "buildah_seconds": buildah_s,
        "buildah_bud_seconds": med("buildah", "bud_seconds"),
        "buildah_push_seconds": med("buildah", "push_seconds"),
        "imgsrc_seconds": imgsrc_s,
        "imgsrc_live_seconds": med(side, "live_seconds"),
        "live_ratio": ratio(med(side, "live_seconds"), buildah_s),
        "imgsrc_job_seconds": med(side, "job_seconds"),
        "imgsrc_pickup_seconds": med(side, "pickup_seconds"),
        "imgsrc_steps": {name: statistics.median(r[side]["steps"].get(name, 0.0) for r in rounds) for name in names},
        "imgsrc_first_seconds": first_s,
        "imgsrc_first_live_seconds": med(side, "first_live_seconds"),
        "ratio": ratio(imgsrc_s, buildah_s),
        "first_ratio": ratio(first_s, buildah_s),
    }


def _table(summary: dict[str, Any], title: str) -> None:
    print_table(
        title,
        ("", "median s", "goal", "met"),
        [
            ("buildah bud + push by hand", summary["buildah_seconds"], "", ""),
            ("  bud", summary["buildah_bud_seconds"], "", ""),
            ("  push → oci:", summary["buildah_push_seconds"], "", ""),
            ("imgsrc build → live (steady), polled", summary["imgsrc_seconds"], "", ""),
            ("ratio imgsrc / buildah (steady, polled)", summary["ratio"], f"<= {GOAL_RATIO}",
             summary["ratio"] <= GOAL_RATIO),
            ("imgsrc first request → job completed", summary["imgsrc_live_seconds"], "", ""),
            ("ratio of that / buildah (no poll rounding)", summary["live_ratio"], f"<= {GOAL_RATIO}",
             summary["live_ratio"] <= GOAL_RATIO),
            ("  job queued → completed", summary["imgsrc_job_seconds"], "", ""),
            ("  job queued → started (worker pickup)", summary["imgsrc_pickup_seconds"], "", ""),
            *((f"  step {name}", seconds, "", "") for name, seconds in summary["imgsrc_steps"].items()),
            ("imgsrc first build on a fresh server, polled", summary["imgsrc_first_seconds"], "", ""),
            ("  first request → job completed", summary["imgsrc_first_live_seconds"], "", ""),
            ("ratio imgsrc / buildah (first build)", summary["first_ratio"], "", ""),
        ],
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--poll", type=float, default=0.1, help="seconds between job polls (default 0.1)")
    parser.add_argument("--src", type=Path, help="also run a server from this tree holding a changed imgsrc package")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="imgsrc-bench-") as tmp, start_registry(Path(tmp) / "reg") as reg:
        work = Path(tmp)
        base = make_busybox_layout(work / "busybox")
        push_image(base, reg, BASE, "latest", work)
        probe = asyncio.run(probe_host(Settings(data_dir=work / "probe-data"), _mkdir(work / "probe")))
        print(f"base {reg.host}/{BASE}:latest; buildah storage driver {probe.driver}, isolation {probe.isolation}; "
              f"{args.rounds} round(s)")  # fmt: skip
        context = _targz({"Dockerfile": DOCKERFILE.format(base="busybox"), "app.txt": APP_TXT})
        with serve_files({"/context.tar.gz": context}) as files:
            url = f"{files.url}/context.tar.gz"
            sides: dict[str, Side] = {
                "buildah": HandBuild(work, reg.host, probe.driver, probe.isolation),
                "imgsrc": ApiBuild(work, reg.url, url, args.poll),
            }
            if args.src is not None:
                sides["proposed"] = ApiBuild(work, reg.url, url, args.poll, args.src)
            rounds = alternate(args.rounds, sides, on_round=_print_round)

    title = f"multi-stage Dockerfile build (driver {probe.driver}, isolation {probe.isolation})"
    summary = _summary(rounds, "imgsrc")
    _table(summary, f"{title}: medians of {args.rounds} round(s)")
    payload: dict[str, Any] = {
        "method": {
            "rounds": args.rounds,
            "poll_seconds": args.poll,
            "dockerfile": DOCKERFILE,
            "storage_driver": probe.driver,
            "isolation": probe.isolation,
        },
        "goals": {"ratio": GOAL_RATIO},
        "summary": summary,
    }
    if args.src is not None:
        payload["method"]["proposed_src"] = str(args.src)
        payload["proposed_summary"] = _summary(rounds, "proposed")
        _table(payload["proposed_summary"], f"the same with the server from {args.src}")
    path = write_results("build_overhead", {**payload, "rounds": rounds})
    print(f"\nresults: {path}")


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


if __name__ == "__main__":
    main()

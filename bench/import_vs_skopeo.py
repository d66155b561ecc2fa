"""Benchmark (issue 3): a full registry import through the imgsrc API vs ``skopeo copy`` of the same image.

    .venv/bin/python bench/import_vs_skopeo.py [--size-mib 1024] [--layers 10] [--rounds 3] [--src DIR]
                                               [--platforms N]

``--platforms N`` (N > 1) makes the image a multi-arch index of N platforms sharing the size and the layers
equally; imgsrc then runs with ``IMGSRC_IMPORT_ALL_PLATFORMS=true`` and skopeo with ``copy --all``: both copy
every platform.

Set-up (not timed): ``--layers`` incompressible layers totalling ``--size-mib`` (cached under
``/tmp/imgsrc-bench-cache``), pushed as one image to a local CNCF distribution registry, whose blob files are
then read once so that both sides are served from the page cache.

Each round runs every side, the first side rotating from round to round, with a ``sync`` (not timed) after each
so that none inherits another's dirty pages:

- **skopeo**: ``skopeo copy --src-tls-verify=false docker://<registry>/<repo>:<tag> oci:<fresh dir>:<tag>``; its
  CPU time (``wait4``) and peak RSS (``VmHWM`` sampled) are recorded.
- **imgsrc**: ``imgsrc serve`` on a fresh data directory (started before the clock), a ``docker-registry``
  source; timed from ``POST /v1/images`` through ``POST /v1/images/{id}/tasks`` and polling the job every
  ``--poll`` seconds to the ``GET`` that shows the image ``live``. Also recorded: the same span ended by the job's
  ``completed`` timestamp instead (no rounding up to the next poll), the job's own ``queued → completed`` and
  ``queued → started`` (worker pickup), the server's CPU time and its peak RSS (``VmHWM``, reset just before the
  import). Then a second image of the same source is imported the same way: the manifest is unchanged, so
  nothing is downloaded ("re-import").
- **proposed** (only with ``--src DIR``): the imgsrc side again with the server run from ``DIR`` (a tree holding
  a changed ``imgsrc`` package, first on ``PYTHONPATH``), to measure a proposed change side by side.

Prints each round, then medians, the ratio imgsrc/skopeo (goal <= 1.0), the peak RSS (goal <= 150 MiB) and the
re-import as a share of the full import (goal < 2 %); writes the figures to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support; bench/ is already on the path

from tests.support.images import push_image, push_index
from tests.support.registry import RunningRegistry, start_registry

from benchkit.api import Api
from benchkit.layers import cached_layers
from benchkit.peers import run_peer
from benchkit.report import median, print_table, ratio, write_results
from benchkit.rounds import Side, alternate, warm
from benchkit.server import imgsrc_server

REPOSITORY, TAG = "bench/big", "v1"
GOAL_RATIO, GOAL_RSS_MIB, GOAL_REIMPORT = 1.0, 150.0, 0.02


PLATFORMS = ("linux/amd64", "linux/arm64", "linux/arm/v7", "linux/ppc64le", "linux/s390x", "linux/386")


def _skopeo(reg: RunningRegistry, work: Path, n: int, *, every_platform: bool) -> dict[str, Any]:
    dest = work / f"oci-{n}"
    argv = ["skopeo", "copy", "--quiet", *(["--all"] if every_platform else []), "--src-tls-verify=false",
            f"docker://{reg.host}/{REPOSITORY}:{TAG}", f"oci:{dest}:{TAG}"]  # fmt: skip
    run = run_peer(argv, log=work / f"skopeo-{n}.log")
    if not (dest / "index.json").is_file():
        raise RuntimeError("skopeo wrote no OCI layout")
    shutil.rmtree(dest)
    return {"seconds": run.seconds, "cpu_seconds": run.cpu_seconds, "peak_mib": run.peak_mib}


def _imgsrc(
    reg: RunningRegistry,
    work: Path,
    n: int,
    *,
    poll: float,
    manifest_digest: str,
    every_platform: bool,
    src: Path | None = None,
) -> dict[str, Any]:
    data_dir = work / f"imgsrc-{n}{'-src' if src else ''}"
    origin = {"type": "docker-registry", "details": {"target": f"{REPOSITORY}:{TAG}", "url": reg.url}}
    env = {"IMGSRC_IMPORT_ALL_PLATFORMS": "true"} if every_platform else None
    with imgsrc_server(data_dir, env=env, src=src) as server, Api(server) as api:
        source_id = str(api.create_source(origin)["id"])
        idle_mib = server.rss_kib() / 1024
        server.reset_peak()
        cpu_before = server.cpu_seconds()
        full = api.import_new_image(source_id, poll_seconds=poll)
        cpu = server.cpu_seconds() - cpu_before
        peak_mib = server.peak_kib() / 1024
        if full.image["backend"]["file_id"] != manifest_digest:
            raise RuntimeError(f"imported {full.image['backend']['file_id']}, expected {manifest_digest}")
        server.reset_peak()
        again = api.import_new_image(source_id, poll_seconds=poll)
        reimport_peak_mib = server.peak_kib() / 1024
        log = api.build_log(full.image_id)
        reimport_log = api.build_log(again.image_id)
    if "unchanged" not in reimport_log:
        raise RuntimeError(f"the re-import downloaded again:\n{reimport_log[-2000:]}")
    shutil.rmtree(data_dir)
    return {
        "seconds": full.seconds,
        "live_seconds": full.live_seconds,
        "job_seconds": full.job_seconds,
        "pickup_seconds": full.pickup_seconds,
        "cpu_seconds": cpu,
        "reimport_seconds": again.seconds,
        "reimport_live_seconds": again.live_seconds,
        "reimport_job_seconds": again.job_seconds,
        "reimport_pickup_seconds": again.pickup_seconds,
        "idle_rss_mib": idle_mib,
        "peak_mib": peak_mib,
        "reimport_peak_mib": reimport_peak_mib,
        "build_log": log.splitlines(),
        "reimport_log": reimport_log.splitlines(),
    }


def _print_round(n: int, result: dict[str, Any]) -> None:
    theirs = result["skopeo"]
    line = f"round {n + 1} ({', '.join(result['order'])}): skopeo {theirs['seconds']:.2f}s "
    line += f"({theirs['cpu_seconds']:.1f} CPU s)"
    for side in result["order"]:
        if side != "skopeo":
            ours = result[side]
            line += (f"; {side} {ours['seconds']:.2f}s ({ours['cpu_seconds']:.1f} CPU s, peak RSS "
                     f"{ours['peak_mib']:.0f} MiB), re-import {ours['reimport_seconds']:.3f}s "
                     f"(job {ours['reimport_job_seconds']:.3f}s)")  # fmt: skip
    print(line)


def _summary(rounds: list[dict[str, Any]], side: str) -> dict[str, Any]:
    def med(who: str, key: str) -> float:
        return median([r[who][key] for r in rounds])

    skopeo_s, imgsrc_s = med("skopeo", "seconds"), med(side, "seconds")
    reimport_s, reimport_job_s = med(side, "reimport_seconds"), med(side, "reimport_job_seconds")
    skopeo_cpu, imgsrc_cpu = med("skopeo", "cpu_seconds"), med(side, "cpu_seconds")
    skopeo_peaks = [r["skopeo"]["peak_mib"] for r in rounds if r["skopeo"]["peak_mib"] is not None]
    return {
        "skopeo_seconds": skopeo_s,
        "imgsrc_seconds": imgsrc_s,
        "imgsrc_live_seconds": med(side, "live_seconds"),
        "live_ratio": ratio(med(side, "live_seconds"), skopeo_s),
        "imgsrc_job_seconds": med(side, "job_seconds"),
        "imgsrc_pickup_seconds": med(side, "pickup_seconds"),
        "ratio": ratio(imgsrc_s, skopeo_s),
        "skopeo_cpu_seconds": skopeo_cpu,
        "imgsrc_cpu_seconds": imgsrc_cpu,
        "cpu_ratio": ratio(imgsrc_cpu, skopeo_cpu),
        "imgsrc_peak_rss_mib": max(r[side]["peak_mib"] for r in rounds),
        "imgsrc_idle_rss_mib": max(r[side]["idle_rss_mib"] for r in rounds),
        "skopeo_peak_rss_mib": max(skopeo_peaks) if skopeo_peaks else None,
        "reimport_seconds": reimport_s,
        "reimport_share": ratio(reimport_s, imgsrc_s),
        "reimport_job_seconds": reimport_job_s,
        "reimport_job_share": ratio(reimport_job_s, imgsrc_s),
        "reimport_live_seconds": med(side, "reimport_live_seconds"),
        "reimport_live_share": ratio(med(side, "reimport_live_seconds"), imgsrc_s),
        "reimport_pickup_seconds": med(side, "reimport_pickup_seconds"),
    }


def _table(summary: dict[str, Any], title: str, mib: int) -> None:
    skopeo_s, imgsrc_s, peak = summary["skopeo_seconds"], summary["imgsrc_seconds"], summary["imgsrc_peak_rss_mib"]
    print_table(
        title,
        ("", "median", "MiB/s", "goal", "met"),
        [
            ("skopeo copy → oci:, s", skopeo_s, round(mib / skopeo_s), "", ""),
            ("imgsrc import → live, s", imgsrc_s, round(mib / imgsrc_s), "", ""),
            ("ratio imgsrc / skopeo", summary["ratio"], "", f"<= {GOAL_RATIO}", summary["ratio"] <= GOAL_RATIO),
            ("imgsrc first request → job completed, s", summary["imgsrc_live_seconds"], "", "", ""),
            ("  ratio of that / skopeo (no poll rounding)", summary["live_ratio"], "", f"<= {GOAL_RATIO}",
             summary["live_ratio"] <= GOAL_RATIO),
            ("  job queued → completed, s", summary["imgsrc_job_seconds"], "", "", ""),
            ("  job queued → started (worker pickup), s", summary["imgsrc_pickup_seconds"], "", "", ""),
            ("skopeo CPU s (user+sys)", summary["skopeo_cpu_seconds"], "", "", ""),
            ("imgsrc server CPU s (user+sys)", summary["imgsrc_cpu_seconds"], "", "", ""),
            ("CPU ratio imgsrc / skopeo", summary["cpu_ratio"], "", "", ""),
            ("imgsrc server peak RSS, MiB (max)", peak, "", f"<= {GOAL_RSS_MIB:.0f}", peak <= GOAL_RSS_MIB),
            ("  of which idle before the import", summary["imgsrc_idle_rss_mib"], "", "", ""),
            ("skopeo peak RSS, MiB (max)", summary["skopeo_peak_rss_mib"] or "n/a", "", "", ""),
            ("re-import, unchanged, s (client)", summary["reimport_seconds"], "", "", ""),
            ("re-import / full import (client)", summary["reimport_share"], "", f"< {GOAL_REIMPORT}",
             summary["reimport_share"] < GOAL_REIMPORT),
            ("re-import, first request → job completed, s", summary["reimport_live_seconds"], "", "", ""),
            ("re-import / full import (no poll rounding)", summary["reimport_live_share"], "", f"< {GOAL_REIMPORT}",
             summary["reimport_live_share"] < GOAL_REIMPORT),
            ("re-import, s (job queued → completed)", summary["reimport_job_seconds"], "", "", ""),
            ("re-import / full import (job)", summary["reimport_job_share"], "", f"< {GOAL_REIMPORT}",
             summary["reimport_job_share"] < GOAL_REIMPORT),
            ("  of which worker pickup, s", summary["reimport_pickup_seconds"], "", "", ""),
        ],
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--poll", type=float, default=0.1, help="seconds between job polls (default 0.1)")
    parser.add_argument("--src", type=Path, help="also run a server from this tree holding a changed imgsrc package")
    parser.add_argument("--platforms", type=int, default=1, choices=range(1, len(PLATFORMS) + 1),
                        help="1: one image; more: a multi-arch index, every platform copied")  # fmt: skip
    args = parser.parse_args()

    every = args.platforms > 1
    with tempfile.TemporaryDirectory(prefix="imgsrc-bench-") as tmp, start_registry(Path(tmp) / "reg") as reg:
        work = Path(tmp)
        if every:
            platforms = PLATFORMS[: args.platforms]
            share, count = args.size_mib // len(platforms), max(1, args.layers // len(platforms))
            own = {p: cached_layers(share, count, seed_base=100 + i) for i, p in enumerate(platforms)}
            index = push_index(reg, work, REPOSITORY, TAG, platforms=platforms, own_layers=own, keep_layout=False)
            image = index.children[PLATFORMS[0]]
            what = f"index of {len(platforms)} platforms x {count} layers, {index.index_digest or ''}"[:80]
        else:
            image = push_image(reg, work, REPOSITORY, TAG, layers=cached_layers(args.size_mib, args.layers),
                               keep_layout=False)  # fmt: skip
            what = f"{args.layers} layers, {image.manifest_digest[:19]}…"
        warm(reg.storage_dir)
        print(f"image {REPOSITORY}:{TAG}: {what}; {args.rounds} round(s)")
        digest = image.manifest_digest
        sides: dict[str, Side] = {
            "skopeo": lambda n: _skopeo(reg, work, n, every_platform=every),
            "imgsrc": lambda n: _imgsrc(reg, work, n, poll=args.poll, manifest_digest=digest, every_platform=every),
        }
        if args.src is not None:
            sides["proposed"] = lambda n: _imgsrc(
                reg, work, n, poll=args.poll, manifest_digest=digest, every_platform=every, src=args.src
            )
        rounds = alternate(args.rounds, sides, on_round=_print_round)

    mib = args.size_mib
    summary = _summary(rounds, "imgsrc")
    shape = f"{args.platforms} platforms" if every else f"{args.layers} layers"
    _table(summary, f"import of {mib} MiB in {shape}: medians of {args.rounds} round(s)", mib)
    payload: dict[str, Any] = {
        "method": {
            "size_mib": mib,
            "layers": args.layers,
            "platforms": args.platforms,
            "rounds": args.rounds,
            "poll_seconds": args.poll,
        },
        "goals": {"ratio": GOAL_RATIO, "peak_rss_mib": GOAL_RSS_MIB, "reimport_share": GOAL_REIMPORT},
        "summary": summary,
    }
    if args.src is not None:
        payload["method"]["proposed_src"] = str(args.src)
        payload["proposed_summary"] = _summary(rounds, "proposed")
        _table(payload["proposed_summary"], f"the same with the server from {args.src}", mib)
    path = write_results(
        "import_all_platforms_vs_skopeo" if every else "import_vs_skopeo", {**payload, "rounds": rounds}
    )
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()

"""Benchmark (issue 3): a full registry import through the imgsrc API vs ``skopeo copy`` of the same image.

    .venv/bin/python bench/import_vs_skopeo.py [--size-mib 1024] [--layers 10] [--rounds 3]

Set-up (not timed): ``--layers`` incompressible layers totalling ``--size-mib`` (cached under
``/tmp/imgsrc-bench-cache``), pushed as one image to a local CNCF distribution registry, whose blob files are
then read once so that both sides are served from the page cache.

Each round runs both sides, alternating which goes first, with a ``sync`` (not timed) after each so that neither
inherits the other's dirty pages:

- **skopeo**: ``skopeo copy --src-tls-verify=false docker://<registry>/<repo>:<tag> oci:<fresh dir>:<tag>``.
- **imgsrc**: ``imgsrc serve`` on a fresh data directory (started before the clock), a ``docker-registry``
  source; timed from ``POST /v1/images`` through ``POST /v1/images/{id}/tasks`` and polling the job every
  ``--poll`` seconds to the ``GET`` that shows the image ``live``. The server's peak RSS (``VmHWM``, reset just
  before the import) is read after it. Then a second image of the same source is imported the same way: the
  manifest is unchanged, so nothing should be downloaded ("re-import").

Prints each round, then medians, the ratio imgsrc/skopeo (goal <= 1.0), the peak RSS (goal <= 150 MiB) and the
re-import as a share of the full import (goal < 2 %); writes the figures to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support; bench/ is already on the path

from tests.support.images import push_image
from tests.support.registry import RunningRegistry, start_registry

from benchkit.api import Api
from benchkit.layers import cached_layers
from benchkit.peers import run_peer
from benchkit.report import median, print_table, ratio, write_results
from benchkit.server import imgsrc_server

REPOSITORY, TAG = "bench/big", "v1"
GOAL_RATIO, GOAL_RSS_MIB, GOAL_REIMPORT = 1.0, 150.0, 0.02


def _warm(directory: Path) -> None:
    """Read every file under ``directory`` once (the registry's storage), so both sides start from the page cache."""
    for path in directory.rglob("*"):
        if path.is_file():
            with path.open("rb") as handle:
                while handle.read(8 * 1024 * 1024):
                    pass


def _skopeo(reg: RunningRegistry, work: Path, n: int) -> dict[str, Any]:
    dest = work / f"oci-{n}"
    argv = ["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{reg.host}/{REPOSITORY}:{TAG}",
            f"oci:{dest}:{TAG}"]  # fmt: skip
    run = run_peer(argv, log=work / f"skopeo-{n}.log")
    if not (dest / "index.json").is_file():
        raise RuntimeError("skopeo wrote no OCI layout")
    shutil.rmtree(dest)
    return {"seconds": run.seconds, "peak_mib": run.peak_kib / 1024 if run.peak_kib else None}


def _imgsrc(reg: RunningRegistry, work: Path, n: int, poll: float, manifest_digest: str) -> dict[str, Any]:
    data_dir = work / f"imgsrc-{n}"
    origin = {"type": "docker-registry", "details": {"target": f"{REPOSITORY}:{TAG}", "url": reg.url}}
    with imgsrc_server(data_dir) as server, Api(server) as api:
        source_id = str(api.create_source(origin)["id"])
        idle_mib = server.rss_kib() / 1024
        server.reset_peak()
        full = api.import_new_image(source_id, poll_seconds=poll)
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
        "reimport_seconds": again.seconds,
        "idle_rss_mib": idle_mib,
        "peak_mib": peak_mib,
        "reimport_peak_mib": reimport_peak_mib,
        "build_log": log.splitlines(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--poll", type=float, default=0.1, help="seconds between job polls (default 0.1)")
    args = parser.parse_args()

    layers = cached_layers(args.size_mib, args.layers)
    with tempfile.TemporaryDirectory(prefix="imgsrc-bench-") as tmp, start_registry(Path(tmp) / "reg") as reg:
        work = Path(tmp)
        image = push_image(reg, work, REPOSITORY, TAG, layers=layers, keep_layout=False)
        _warm(reg.storage_dir)
        print(f"image {REPOSITORY}:{TAG}: {args.layers} layers, {sum(image.layer_sizes) / 2**20:.0f} MiB, "
              f"{image.manifest_digest[:19]}…; {args.rounds} round(s)")  # fmt: skip
        rounds: list[dict[str, Any]] = []
        for n in range(args.rounds):
            order = ("skopeo", "imgsrc") if n % 2 == 0 else ("imgsrc", "skopeo")
            result: dict[str, Any] = {"order": order}
            for side in order:
                if side == "skopeo":
                    result["skopeo"] = _skopeo(reg, work, n)
                else:
                    result["imgsrc"] = _imgsrc(reg, work, n, args.poll, image.manifest_digest)
                os.sync()
            ours, theirs = result["imgsrc"], result["skopeo"]
            print(f"round {n + 1} ({' first, '.join(order)} second): skopeo {theirs['seconds']:.2f}s, imgsrc "
                  f"{ours['seconds']:.2f}s (peak RSS {ours['peak_mib']:.0f} MiB), re-import "
                  f"{ours['reimport_seconds']:.3f}s")  # fmt: skip
            rounds.append(result)

    skopeo_s = median([r["skopeo"]["seconds"] for r in rounds])
    imgsrc_s = median([r["imgsrc"]["seconds"] for r in rounds])
    reimport_s = median([r["imgsrc"]["reimport_seconds"] for r in rounds])
    peak = max(r["imgsrc"]["peak_mib"] for r in rounds)
    skopeo_peaks = [r["skopeo"]["peak_mib"] for r in rounds if r["skopeo"]["peak_mib"] is not None]
    summary = {
        "skopeo_seconds": skopeo_s,
        "imgsrc_seconds": imgsrc_s,
        "ratio": ratio(imgsrc_s, skopeo_s),
        "imgsrc_peak_rss_mib": peak,
        "skopeo_peak_rss_mib": max(skopeo_peaks) if skopeo_peaks else None,
        "reimport_seconds": reimport_s,
        "reimport_share": ratio(reimport_s, imgsrc_s),
    }
    mib = args.size_mib
    print_table(
        f"import of {mib} MiB in {args.layers} layers: medians of {args.rounds} round(s)",
        ("", "median s", "MiB/s", "goal", "met"),
        [
            ("skopeo copy → oci:", skopeo_s, round(mib / skopeo_s), "", ""),
            ("imgsrc import → live", imgsrc_s, round(mib / imgsrc_s), "", ""),
            ("ratio imgsrc / skopeo", summary["ratio"], "", f"<= {GOAL_RATIO}", summary["ratio"] <= GOAL_RATIO),
            ("imgsrc server peak RSS, MiB (max)", peak, "", f"<= {GOAL_RSS_MIB:.0f}", peak <= GOAL_RSS_MIB),
            ("skopeo peak RSS, MiB (max)", summary["skopeo_peak_rss_mib"] or "n/a", "", "", ""),
            ("re-import, unchanged", reimport_s, "", "", ""),
            ("re-import / full import", summary["reimport_share"], "", f"< {GOAL_REIMPORT}",
             summary["reimport_share"] < GOAL_REIMPORT),
        ],
    )  # fmt: skip
    path = write_results(
        "import_vs_skopeo",
        {
            "method": {"size_mib": mib, "layers": args.layers, "rounds": args.rounds, "poll_seconds": args.poll},
            "goals": {"ratio": GOAL_RATIO, "peak_rss_mib": GOAL_RSS_MIB, "reimport_share": GOAL_REIMPORT},
            "summary": summary,
            "rounds": rounds,
        },
    )
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()

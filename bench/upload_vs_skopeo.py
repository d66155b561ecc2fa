"""Benchmark (issue 4): uploading a ``docker save`` archive through the imgsrc API vs ``skopeo copy`` of the same
archive into an OCI layout.

    .venv/bin/python bench/upload_vs_skopeo.py [--size-mib 1024] [--layers 10] [--rounds 3]

Set-up (not timed): ``--layers`` incompressible layers totalling ``--size-mib`` (cached under
``/tmp/imgsrc-bench-cache``) pushed as one image to a local CNCF distribution registry, then saved with
``skopeo copy docker://<registry>/<image> docker-archive:<file>`` (a ``docker save`` archive, layers as plain
tars; cached beside the layers, keyed by the image's manifest digest). The archive is read once so that both
sides read it from the page cache.

Each round runs both sides, alternating which goes first, with a ``sync`` (not timed) after each:

- **skopeo**: ``skopeo copy docker-archive:<file> oci:<fresh dir>:<tag>``.
- **imgsrc**: ``imgsrc serve`` on a fresh data directory, a ``cycle-upload`` source and an image of it (all
  before the clock); timed is the one call ``POST /v1/images/{id}/upload`` (multipart part ``file.tar``
  streamed from the file by httpx, the image's one-time token as credential) until its ``200`` answer with the
  live image. The server's peak RSS (``VmHWM``, reset just before) and CPU time are read around the call, and so
  is the CPU time of this process, which is the uploading client.

Prints each round, then medians and the ratio imgsrc/skopeo (goal <= 1.2); writes the figures to
``bench/results/``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support; bench/ is already on the path

from tests.support.images import push_image
from tests.support.registry import RunningRegistry, start_registry

from benchkit.api import Api
from benchkit.layers import CACHE_DIR, cached_layers
from benchkit.peers import run_peer
from benchkit.report import median, print_table, ratio, write_results
from benchkit.rounds import alternate, warm
from benchkit.server import imgsrc_server

REPOSITORY, TAG = "bench/big", "v1"
GOAL_RATIO = 1.2


def _archive(reg: RunningRegistry, manifest_digest: str, work: Path) -> Path:
    """The ``docker save`` archive of the pushed image, from the cache or made now with skopeo."""
    cached = CACHE_DIR / f"docker-archive-{manifest_digest.split(':', 1)[1][:16]}.tar"
    if cached.is_file():
        return cached
    partial = cached.with_suffix(".part")
    partial.unlink(missing_ok=True)
    argv = ["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{reg.host}/{REPOSITORY}:{TAG}",
            f"docker-archive:{partial}:{REPOSITORY}:{TAG}"]  # fmt: skip
    run_peer(argv, log=work / "save.log")
    partial.rename(cached)
    return cached


def _skopeo(archive: Path, work: Path, n: int) -> dict[str, Any]:
    dest = work / f"oci-{n}"
    run = run_peer(["skopeo", "copy", "--quiet", f"docker-archive:{archive}", f"oci:{dest}:{TAG}"],
                   log=work / f"skopeo-{n}.log")  # fmt: skip
    if not (dest / "index.json").is_file():
        raise RuntimeError("skopeo wrote no OCI layout")
    shutil.rmtree(dest)
    return {"seconds": run.seconds, "cpu_seconds": run.cpu_seconds, "peak_mib": run.peak_mib}


def _imgsrc(archive: Path, work: Path, n: int) -> dict[str, Any]:
    data_dir = work / f"imgsrc-{n}"
    with imgsrc_server(data_dir) as server, Api(server) as api:
        source_id = str(api.create_source({"type": "cycle-upload"})["id"])
        image = api.create_image(source_id)
        idle_mib = server.rss_kib() / 1024
        server.reset_peak()
        cpu_before, client_before = server.cpu_seconds(), time.process_time()
        seconds, live = api.upload(image, archive)
        cpu, client_cpu = server.cpu_seconds() - cpu_before, time.process_time() - client_before
        peak_mib = server.peak_kib() / 1024
        log = api.build_log(str(image["id"]))
    if live["state"]["current"] != "live":
        raise RuntimeError(f"the upload answered an image in state {live['state']}:\n{log[-2000:]}")
    shutil.rmtree(data_dir)
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "client_cpu_seconds": client_cpu,
        "idle_rss_mib": idle_mib,
        "peak_mib": peak_mib,
        "build_log": log.splitlines(),
    }


def _print_round(n: int, result: dict[str, Any]) -> None:
    ours, theirs = result["imgsrc"], result["skopeo"]
    print(f"round {n + 1} ({' first, '.join(result['order'])} second): skopeo {theirs['seconds']:.2f}s "
          f"({theirs['cpu_seconds']:.1f} CPU s), imgsrc {ours['seconds']:.2f}s (server {ours['cpu_seconds']:.1f} + "
          f"client {ours['client_cpu_seconds']:.1f} CPU s, peak RSS {ours['peak_mib']:.0f} MiB)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    layers = cached_layers(args.size_mib, args.layers)
    with tempfile.TemporaryDirectory(prefix="imgsrc-bench-") as tmp:
        work = Path(tmp)
        with start_registry(work / "reg") as reg:
            image = push_image(reg, work, REPOSITORY, TAG, layers=layers, keep_layout=False)
            archive = _archive(reg, image.manifest_digest, work)
        warm(archive)
        print(f"archive {archive.name}: {archive.stat().st_size / 2**20:.0f} MiB, {args.layers} layers; "
              f"{args.rounds} round(s)")  # fmt: skip
        sides = {"skopeo": lambda n: _skopeo(archive, work, n), "imgsrc": lambda n: _imgsrc(archive, work, n)}
        rounds = alternate(args.rounds, sides, on_round=_print_round)

    def med(side: str, key: str) -> float:
        return median([r[side][key] for r in rounds])

    skopeo_s, imgsrc_s = med("skopeo", "seconds"), med("imgsrc", "seconds")
    skopeo_peaks = [r["skopeo"]["peak_mib"] for r in rounds if r["skopeo"]["peak_mib"] is not None]
    summary = {
        "archive_mib": archive.stat().st_size / 2**20 if archive.exists() else None,
        "skopeo_seconds": skopeo_s,
        "imgsrc_seconds": imgsrc_s,
        "ratio": ratio(imgsrc_s, skopeo_s),
        "skopeo_cpu_seconds": med("skopeo", "cpu_seconds"),
        "imgsrc_server_cpu_seconds": med("imgsrc", "cpu_seconds"),
        "imgsrc_client_cpu_seconds": med("imgsrc", "client_cpu_seconds"),
        "imgsrc_peak_rss_mib": max(r["imgsrc"]["peak_mib"] for r in rounds),
        "imgsrc_idle_rss_mib": max(r["imgsrc"]["idle_rss_mib"] for r in rounds),
        "skopeo_peak_rss_mib": max(skopeo_peaks) if skopeo_peaks else None,
    }
    mib = summary["archive_mib"] or args.size_mib
    print_table(
        f"archive of {mib:.0f} MiB in {args.layers} layers: medians of {args.rounds} round(s)",
        ("", "median", "MiB/s", "goal", "met"),
        [
            ("skopeo copy docker-archive: → oci:, s", skopeo_s, round(mib / skopeo_s), "", ""),
            ("imgsrc POST …/upload → 200 live, s", imgsrc_s, round(mib / imgsrc_s), "", ""),
            ("ratio imgsrc / skopeo", summary["ratio"], "", f"<= {GOAL_RATIO}", summary["ratio"] <= GOAL_RATIO),
            ("skopeo CPU s (user+sys)", summary["skopeo_cpu_seconds"], "", "", ""),
            ("imgsrc server CPU s (user+sys)", summary["imgsrc_server_cpu_seconds"], "", "", ""),
            ("uploading client (httpx) CPU s", summary["imgsrc_client_cpu_seconds"], "", "", ""),
            ("imgsrc server peak RSS, MiB (max)", summary["imgsrc_peak_rss_mib"], "", "", ""),
            ("  of which idle before the upload", summary["imgsrc_idle_rss_mib"], "", "", ""),
            ("skopeo peak RSS, MiB (max)", summary["skopeo_peak_rss_mib"] or "n/a", "", "", ""),
        ],
    )  # fmt: skip
    path = write_results(
        "upload_vs_skopeo",
        {
            "method": {"size_mib": args.size_mib, "layers": args.layers, "rounds": args.rounds},
            "goals": {"ratio": GOAL_RATIO},
            "summary": summary,
            "rounds": rounds,
        },
    )
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()

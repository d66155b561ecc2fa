"""Micro-benchmark: download one large layer with ``RegistryClient`` vs ``skopeo copy`` of the same
one-layer image to an OCI directory, both from a local docker-registry over loopback.

    .venv/bin/python bench/registry_download.py --size-mib 500 [--runs 3]

Prints the throughput of each (MiB/s) and the peak RSS of the process that ran the client download (the
download runs in a child process so the image generation's memory is not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def child_download(url: str, repo: str, digest: str, size: int, dest: Path) -> None:
    from imgsrc.registry import Descriptor, RegistryClient
    from imgsrc.registry.manifests import OCI_LAYER_GZIP
    from imgsrc.settings import Settings

    async def main() -> float:
        settings = Settings(data_dir=dest.parent)
        async with RegistryClient(url, None, settings) as client:
            started = time.perf_counter()
            await client.download_blob(repo, Descriptor(OCI_LAYER_GZIP, digest, size), dest)
            return time.perf_counter() - started

    elapsed = asyncio.run(main())
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork+exec.
    status = Path("/proc/self/status").read_text()
    peak_kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    print(f"{elapsed:.4f} {peak_kib}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, repo, digest, size, dest = args.child
        child_download(url, repo, digest, int(size), Path(dest))
        return

    from tests.support.images import push_image
    from tests.support.registry import start_registry

    size = args.size_mib * 1024 * 1024
    with tempfile.TemporaryDirectory(prefix="imgsrc-bench-") as tmp, start_registry(Path(tmp) / "reg") as reg:
        work = Path(tmp)
        started = time.perf_counter()
        from tests.support.images import make_layer

        layer = make_layer(work / "layers", size, files=4, compresslevel=0)
        image = push_image(reg, work, "bench/big", layers=[layer], keep_layout=False)
        layer.path.unlink()
        print(f"generated and pushed {layer.size / 2**20:.0f} MiB in {time.perf_counter() - started:.1f} s")
        ours, skopeo, peaks = [], [], []
        for run in range(args.runs):
            dest = work / f"dl-{run}"
            done = subprocess.run(
                [sys.executable, __file__, "--child", reg.url, "bench/big", layer.digest, str(layer.size), str(dest)],
                capture_output=True,
                text=True,
                check=True,
            )
            elapsed, peak = done.stdout.split()
            ours.append(layer.size / 2**20 / float(elapsed))
            peaks.append(int(peak) / 1024)
            dest.unlink()
            out = work / f"oci-{run}"
            started = time.perf_counter()
            subprocess.run(
                [
                    "skopeo",
                    "copy",
                    "--quiet",
                    "--src-tls-verify=false",
                    f"docker://{reg.host}/bench/big:{image.tag}",
                    f"oci:{out}:latest",
                ],
                check=True,
            )
            skopeo.append(layer.size / 2**20 / (time.perf_counter() - started))
            subprocess.run(["rm", "-rf", str(out)], check=True)
        for label, rates in (("RegistryClient.download_blob", ours), ("skopeo copy (1-layer image)", skopeo)):
            runs = [round(x) for x in rates]
            print(f"{label:30} median {statistics.median(rates):.0f} MiB/s  runs {runs}")
        print(f"peak RSS of the downloading process: {max(peaks):.0f} MiB")


if __name__ == "__main__":
    main()

"""Benchmark: ``skopeo copy`` of one large live image from imgsrc's ``/v2`` vs from the CNCF distribution server
that the image was imported from, in the same run, over loopback.

    .venv/bin/python bench/pull_vs_registry.py [--size-mib 1024] [--layers 4] [--runs 3]

Builds an image of ``--layers`` layers totalling ``--size-mib`` (random bytes, gzip level 0), pushes it to a
local docker-registry, starts ``imgsrc serve`` in its own process, imports the image through the API, then
alternates ``skopeo copy docker://… dir:…`` from each server ``--runs`` times (imgsrc through the Bearer-token
flow with an auth file, the registry anonymously). Prints each run, the medians, the ratio imgsrc/registry (goal
≤ 1.2), and the imgsrc server's peak RSS during the pulls (``VmHWM`` reset before them): it must stay flat
whatever the image size.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.images import make_layer, push_image
from tests.support.registry import free_port, start_registry, write_authfile
from tests.support.server import wait_healthy


def _peak_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux >= 4.0)


def _serve(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    imgsrc = Path(sys.executable).with_name("imgsrc")
    argv = [str(imgsrc), "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir)]
    proc = subprocess.Popen(argv, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    if not wait_healthy(f"http://127.0.0.1:{port}", alive=lambda: proc.poll() is None, timeout=60):
        raise RuntimeError(f"imgsrc serve did not start: {log.read_text()[-2000:]}")
    return proc


def _import(url: str, data_dir: Path, registry_url: str, target: str) -> tuple[str, str, str]:
    """Import ``target`` into the bootstrap hub; returns (hub id, source identifier, admin key)."""
    boot = json.loads((data_dir / "bootstrap.json").read_text())
    headers = {"Authorization": f"Bearer {boot['api_key']}", "X-Hub-Id": boot["hub_id"]}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as api:
        origin = {"type": "docker-registry", "details": {"target": target, "url": registry_url}}
        source = api.post("/v1/images/sources", json={"type": "direct", "origin": origin, "name": "bench"}).json()
        image = api.post("/v1/images", json={"source_id": source["data"]["id"]}).json()["data"]
        job = api.post(f"/v1/images/{image['id']}/tasks", json={"action": "import"}).json()["data"]["job"]["id"]
        while True:
            state = api.get(f"/v1/jobs/{job}").json()["data"]["state"]["current"]
            if state in ("completed", "error", "expired"):
                break
            time.sleep(0.5)
        if state != "completed":
            raise RuntimeError(f"import ended {state}")
    return boot["hub_id"], source["data"]["identifier"], boot["api_key"]


def _copy(source: str, dest: Path, authfile: Path | None) -> float:
    argv = ["skopeo", "copy", "--quiet", "--src-tls-verify=false"]
    if authfile is not None:
        argv += ["--src-authfile", str(authfile)]
    argv += [source, f"dir:{dest}"]
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, timeout=1800)
    elapsed = time.perf_counter() - started
    shutil.rmtree(dest)
    return elapsed


def _curl(url: str, headers: dict[str, str]) -> float:
    """Seconds to fetch one blob to /dev/null: the server's raw streaming rate, without skopeo's digesting."""
    argv = ["curl", "-sSf", "-o", "/dev/null", "-w", "%{time_total}", "--config", "-", url]
    config = "".join(f'header = "{name}: {value}"\n' for name, value in headers.items())  # credentials off argv
    done = subprocess.run(argv, input=config, check=True, capture_output=True, text=True, timeout=600)
    return float(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    per_layer = args.size_mib * 1024 * 1024 // args.layers
    with tempfile.TemporaryDirectory(prefix="imgsrc-bench-") as tmp, start_registry(Path(tmp) / "reg") as reg:
        work = Path(tmp)
        started = time.perf_counter()
        layers = [make_layer(work / "layers", per_layer, files=1, compresslevel=0) for _ in range(args.layers)]
        push_image(reg, work, "bench/big", "latest", layers=layers, keep_layout=False)
        shutil.rmtree(work / "layers")
        built = time.perf_counter() - started
        print(f"image: {args.layers} layers, {args.size_mib} MiB, built and pushed in {built:.1f}s")
        port = free_port()
        data_dir = work / "imgsrc"
        server = _serve(data_dir, port, work / "serve.log")
        try:
            url = f"http://127.0.0.1:{port}"
            started = time.perf_counter()
            hub, identifier, key = _import(url, data_dir, reg.url, "bench/big:latest")
            print(f"imported into imgsrc in {time.perf_counter() - started:.1f}s")
            authfile = write_authfile(work / "auth.json", f"127.0.0.1:{port}", "bench", key)
            ours = f"docker://127.0.0.1:{port}/{hub}/{identifier}:latest"
            theirs = f"docker://{reg.host}/bench/big:latest"
            _copy(theirs, work / "warm", None)  # page cache warm for both: the same layer files back both stores
            _copy(ours, work / "warm", authfile)
            _reset_peak(server.pid)
            idle_kib = _peak_kib(server.pid)
            times: dict[str, list[float]] = {"registry": [], "imgsrc": []}
            for run in range(args.runs):
                times["registry"].append(_copy(theirs, work / "pull", None))
                times["imgsrc"].append(_copy(ours, work / "pull", authfile))
                print(f"run {run + 1}: registry {times['registry'][-1]:.2f}s, imgsrc {times['imgsrc'][-1]:.2f}s")
            peak_kib = _peak_kib(server.pid)
            layer = layers[0].digest
            auth = {"Authorization": f"Bearer {key}"}
            raw = {
                "registry": statistics.median(_curl(f"{reg.url}/v2/bench/big/blobs/{layer}", {}) for _ in range(3)),
                "imgsrc": statistics.median(
                    _curl(f"{url}/v2/{hub}/{identifier}/blobs/{layer}", auth) for _ in range(3)
                ),
            }
        finally:
            server.terminate()
            server.wait(timeout=30)
        reg_median, ours_median = statistics.median(times["registry"]), statistics.median(times["imgsrc"])
        mib = args.size_mib
        print(f"median: registry {reg_median:.2f}s ({mib / reg_median:.0f} MiB/s), imgsrc {ours_median:.2f}s "
              f"({mib / ours_median:.0f} MiB/s)")  # fmt: skip
        print(f"ratio imgsrc/registry: {ours_median / reg_median:.2f} (goal <= 1.2)")
        layer_mib = per_layer / 2**20
        for name, seconds in raw.items():
            print(
                f"one {layer_mib:.0f} MiB blob with curl from {name}: {seconds:.2f}s ({layer_mib / seconds:.0f} MiB/s)"
            )
        print(f"imgsrc server RSS: {idle_kib / 1024:.0f} MiB before the pulls, peak {peak_kib / 1024:.0f} MiB during")
        print(f"cpus: {os.cpu_count()}")


if __name__ == "__main__":
    main()

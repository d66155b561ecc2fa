"""Micro-benchmark: what the builder adapter adds on top of plain buildah and git.

    .venv/bin/python bench/build_adapter.py [--runs 5]

Measures, on this host:

- the one-off host probe (storage driver + isolation), cold;
- a trivial build (``FROM scratch`` + ``COPY`` of a small file) through :func:`imgsrc.builder.build` — private
  storage, configuration, build, push to an OCI layout, complete clean-up — against the same ``buildah build``
  + ``buildah push`` run by hand in one reused storage (no set-up, no clean-up);
- a git context fetch (default branch, shallow) through :func:`imgsrc.builder.fetch_context` against
  ``git clone --depth 1`` of the same repository over the same local smart-HTTP server.

Prints the median and min of each in seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.storage import storage_args


def timed(runs: int, action: Callable[[int], None]) -> list[float]:
    times = []
    for i in range(runs):
        started = time.perf_counter()
        action(i)
        times.append(time.perf_counter() - started)
    return times


def show(name: str, times: list[float]) -> None:
    print(f"{name:<48} median {statistics.median(times):7.3f} s   min {min(times):7.3f} s   (n={len(times)})")


def bench_builds(tmp: Path, runs: int) -> None:
    from imgsrc.builder import BuildSpec, build
    from imgsrc.builder.probe import forget_probes, probe_host
    from imgsrc.builder.storage import unmount_under
    from imgsrc.settings import Settings

    settings = Settings(data_dir=tmp / "data", retries=0)
    context = tmp / "context"
    context.mkdir()
    (context / "payload").write_bytes(b"x" * 65536)
    (context / "Dockerfile").write_text("FROM scratch\nCOPY payload /payload\n")

    forget_probes()
    probe_dir = tmp / "probe"
    probe_dir.mkdir()
    started = time.perf_counter()
    probe = asyncio.run(probe_host(settings, probe_dir))
    show(f"probe (cold): {probe.driver}/{probe.isolation}", [time.perf_counter() - started])

    def adapter_build(i: int) -> None:
        work = tmp / f"work-{i}"
        work.mkdir()
        spec = BuildSpec(context, context / "Dockerfile")
        asyncio.run(build(spec, tmp / f"layout-{i}", work, settings, lambda _line: None))

    show("build() trivial image, incl. set-up/clean-up", timed(runs, adapter_build))

    store = tmp / "raw-storage"
    storage = storage_args(store, probe.driver)

    def raw_build(i: int) -> None:
        iid = tmp / f"raw-iid-{i}"
        subprocess.run(
            ["buildah", *storage, "build", f"--isolation={probe.isolation}", "--layers=false", "--quiet",
             f"--iidfile={iid}", str(context)],
            check=True, capture_output=True,
        )  # fmt: skip
        image = iid.read_text().strip()
        subprocess.run(
            ["buildah", *storage, "push", "--quiet", image, f"oci:{tmp / f'raw-layout-{i}'}:latest"],
            check=True,
            capture_output=True,
        )

    try:
        show("raw buildah build + push, reused storage", timed(runs, raw_build))
    finally:
        subprocess.run(["buildah", *storage, "rmi", "--all", "--force"], capture_output=True, check=False)
        unmount_under(store)
        shutil.rmtree(store, ignore_errors=True)


def bench_git(tmp: Path, runs: int) -> None:
    from tests.support.git import Commit, make_repo, serve_git_http

    from imgsrc.builder import GitSource, fetch_context
    from imgsrc.settings import Settings

    settings = Settings(data_dir=tmp / "data", retries=0)
    repos = tmp / "repos"
    repos.mkdir()
    history = [Commit({f"f{n}": "x" * 1000 for n in range(200)}), *(Commit({"f0": f"v{n}"}) for n in range(50))]
    make_repo(repos / "r.git", history)
    with serve_git_http(repos, allow_filter=True) as server:
        url = server.repo_url("r.git")

        def adapter_fetch(i: int) -> None:
            work = tmp / f"git-{i}"
            work.mkdir()
            asyncio.run(fetch_context(GitSource(url), work, settings, lambda _line: None))

        def raw_clone(i: int) -> None:
            target = str(tmp / f"clone-{i}")
            subprocess.run(["git", "clone", "--quiet", "--depth", "1", url, target], check=True, capture_output=True)

        show("fetch_context() git default branch, shallow", timed(runs, adapter_fetch))
        show("raw git clone --depth 1", timed(runs, raw_clone))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="imgsrc-bench-") as tmp_name:
        bench_builds(Path(tmp_name), args.runs)
        bench_git(Path(tmp_name), args.runs)


if __name__ == "__main__":
    main()

"""Generated incompressible layers, made once and cached under ``/tmp/imgsrc-bench-cache``.

Generating a gigabyte of random layers takes longer than the transfers being measured, so a set of layers is
kept between runs, keyed by its total size and count. Each layer is seeded (``seed = index``), so a lost cache
regenerates the very same digests. gzip level 0 (stored blocks): the blob size is the data size, and neither
side of a benchmark spends time on compression.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from tests.support.images import Layer, make_layer

__all__ = ["CACHE_DIR", "cached_layers"]

CACHE_DIR = Path("/tmp/imgsrc-bench-cache")


def _load(index: Path) -> list[Layer] | None:
    if not index.is_file():
        return None
    entries = json.loads(index.read_text())
    layers = [Layer(e["digest"], e["size"], e["diff_id"], Path(e["path"])) for e in entries]
    if all(layer.path.is_file() and layer.path.stat().st_size == layer.size for layer in layers):
        return layers
    return None


def cached_layers(total_mib: int, count: int, *, seed_base: int = 0) -> list[Layer]:
    """``count`` layers of one file each, ``total_mib`` MiB in all; from the cache when it holds them.
    ``seed_base`` selects another set of the same shape (distinct digests)."""
    directory = CACHE_DIR / f"layers-{total_mib}MiB-x{count}-s{seed_base}"
    index = directory / "index.json"
    cached = _load(index)
    if cached is not None:
        return cached
    per_layer = total_mib * 1024 * 1024 // count
    layers = [
        make_layer(directory, per_layer, files=1, compresslevel=0, seed=seed_base * 10_000 + n) for n in range(count)
    ]
    index.write_text(json.dumps([{**asdict(layer), "path": str(layer.path)} for layer in layers], indent=1))
    return layers

"""Alternating rounds: every round runs each side once, the first side rotating from round to round, so that the
noise of a shared machine (another job starting, the page cache, a warming CPU) falls on both sides alike.

A ``sync`` (not timed) follows each side, so that neither inherits the other's dirty pages to write back.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["Side", "alternate", "warm"]

Side = Callable[[int], dict[str, Any]]


def alternate(
    rounds: int, sides: Mapping[str, Side], *, on_round: Callable[[int, dict[str, Any]], None] | None = None
) -> list[dict[str, Any]]:
    """Run ``rounds`` rounds of ``sides`` (name → function of the round number returning its figures); the
    side order rotates by one each round. Each result maps the side names to their figures, plus ``order``."""
    names = list(sides)
    results: list[dict[str, Any]] = []
    for n in range(rounds):
        shift = n % len(names)
        order = names[shift:] + names[:shift]
        result: dict[str, Any] = {"order": order}
        for name in order:
            result[name] = sides[name](n)
            os.sync()
        if on_round is not None:
            on_round(n, result)
        results.append(result)
    return results


def warm(*paths: Path) -> None:
    """Read every file under ``paths`` once (a registry's storage, an archive), so that every side starts from
    the page cache rather than the first one paying for the disk."""
    for root in paths:
        for path in [root] if root.is_file() else root.rglob("*"):
            if path.is_file():
                with path.open("rb") as handle:
                    while handle.read(8 * 1024 * 1024):
                        pass

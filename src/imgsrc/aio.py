"""Asyncio helpers shared by the adapters and the pipeline."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

__all__ = ["finish_uncancelled"]

T = TypeVar("T")


async def finish_uncancelled(aw: Awaitable[T]) -> T:
    """Await ``aw`` to the end even if the calling task is cancelled meanwhile, then re-raise the cancellation.

    For clean-up that must not be cut short (stopping a process group, removing a build's storage).
    """
    task = asyncio.ensure_future(aw)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                raise
            cancelled = True
            continue
        break
    if cancelled:
        raise asyncio.CancelledError
    return result

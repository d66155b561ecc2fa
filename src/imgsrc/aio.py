"""Asyncio helpers shared by the adapters and the pipeline."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from imgsrc.errors import ImgsrcError

__all__ = ["finish_uncancelled", "first_error"]

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


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error to report from a group of concurrent failures: the first of the project's own errors (it says
    what went wrong upstream), else the first of any kind."""
    leaves: list[BaseException] = []

    def walk(error: BaseException) -> None:
        if isinstance(error, BaseExceptionGroup):
            for inner in error.exceptions:
                walk(inner)
        else:
            leaves.append(error)

    walk(group)
    return next((e for e in leaves if isinstance(e, ImgsrcError)), leaves[0])

"""When to retry an upstream request, and how long to wait first.

Only named transient failures are retried: HTTP 429 and 500/502/503/504, and transport errors (connection
refused or reset, a timeout on silence, a response cut short). The wait is exponential with jitter, or what
the registry's ``Retry-After`` asks for (seconds or an HTTP date). A ``Retry-After`` longer than
``max_retry_after`` is not waited for: the request fails at once (Docker Hub's pull limit asks for hours).
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

__all__ = ["TRANSIENT_STATUSES", "RetryPolicy", "is_transient_error", "parse_retry_after"]

TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


def is_transient_error(exc: BaseException) -> bool:
    """Transport failures worth another attempt (httpx's connect/read/write errors, timeouts, cut responses)."""
    return isinstance(exc, httpx.TransportError) and not isinstance(exc, httpx.UnsupportedProtocol)


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP-date); ``None`` if absent or odd."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - now())


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` attempts after the first; backoff ``base * 2**n`` capped at ``cap``, with jitter."""

    retries: int
    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 300.0

    def delay(self, failures: int, retry_after: float | None, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before the next attempt after ``failures`` consecutive failures (1-based).

        ``Retry-After`` wins when given; otherwise half the exponential step plus a random half ("equal
        jitter"), so that parallel transfers do not retry in lockstep.
        """
        if retry_after is not None:
            return float(retry_after)
        step = min(self.cap, self.base * 2 ** max(0, failures - 1))
        return float(step / 2 + rand() * step / 2)

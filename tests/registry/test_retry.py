"""Retry timing (``imgsrc.registry.retry``): ``Retry-After`` in both forms, exponential backoff with jitter
and its cap, and which failures count as transient."""

from __future__ import annotations

import email.utils

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imgsrc.registry.retry import RetryPolicy, is_transient_error, parse_retry_after


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 0 ") == 0.0
    when = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after(when, now=lambda: 1_000_000.0) == pytest.approx(30.0)
    assert parse_retry_after(email.utils.formatdate(10, usegmt=True), now=lambda: 1_000_000.0) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5e3"])
def test_unusable_retry_after_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value) is None


def test_backoff_doubles_up_to_the_cap_and_retry_after_wins() -> None:
    policy = RetryPolicy(retries=5, base=0.5, cap=4.0)
    assert [policy.delay(n, None, lambda: 1.0) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert [policy.delay(n, None, lambda: 0.0) for n in range(1, 4)] == [0.25, 0.5, 1.0]
    assert policy.delay(3, 12.0, lambda: 0.0) == 12.0


@settings(deadline=None)  # a noisy shared machine must not turn slowness into failures
@given(st.integers(1, 50), st.floats(0, 1))
def test_jittered_delay_stays_within_half_and_full_step(failures: int, r: float) -> None:
    policy = RetryPolicy(retries=3)
    step = min(policy.cap, policy.base * 2 ** (failures - 1))
    assert step / 2 <= policy.delay(failures, None, lambda: r) <= step


def test_transport_failures_are_transient_but_protocol_mistakes_are_not() -> None:
    request = httpx.Request("GET", "http://x")
    assert is_transient_error(httpx.ConnectError("refused", request=request))
    assert is_transient_error(httpx.ReadTimeout("silent", request=request))
    assert is_transient_error(httpx.RemoteProtocolError("cut short", request=request))
    assert not is_transient_error(httpx.UnsupportedProtocol("ftp", request=request))
    assert not is_transient_error(ValueError("not httpx"))

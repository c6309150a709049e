"""Under a burst of webhook POSTs the worker leaves the CPU to acknowledgements.

A short burst passes untouched; once it has lasted BURST_GRACE_SECONDS one event goes ahead every
MAX_YIELD_SECONDS, so sustained load still moves the backlog. The clock here is the worker's own
(time.monotonic); "busy" is made certain by dating the last POST in the future, so nothing below
depends on how fast this machine happens to be.
"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import pytest

import bot.ingest
from bot.worker import BURST_GRACE_SECONDS, MAX_YIELD_SECONDS, InProcessWorker
from tests.conftest import Harness, text_message


def worker_with(last_post: float, burst_started: float) -> tuple[InProcessWorker, Any]:
    ingest = SimpleNamespace(last_post=last_post, burst_started=burst_started)
    return InProcessWorker(SimpleNamespace(ingest=ingest)), ingest  # type: ignore[arg-type]


async def returns_within(coro: Any, seconds: float) -> bool:
    task = asyncio.ensure_future(coro)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
    return bool(done)


def test_when_arrivals_pause_the_worker_goes_on_at_once() -> None:
    worker, _ = worker_with(last_post=float("-inf"), burst_started=float("-inf"))
    assert asyncio.run(returns_within(worker._yield_to_acknowledgements(), 0.5))


def test_a_burst_younger_than_the_grace_period_holds_every_event_back() -> None:
    now = time.monotonic()
    worker, _ = worker_with(last_post=now + 1000, burst_started=now)  # busy, and just started
    assert not asyncio.run(returns_within(worker._yield_to_acknowledgements(), min(0.5, BURST_GRACE_SECONDS / 2)))


def test_a_burst_that_goes_on_lets_one_event_through_per_yield_interval() -> None:
    now = time.monotonic()
    worker, _ = worker_with(last_post=now + 1000, burst_started=now - BURST_GRACE_SECONDS - 1)

    async def scenario() -> tuple[bool, bool, bool]:
        first = await returns_within(worker._yield_to_acknowledgements(), 0.5)
        second = asyncio.ensure_future(worker._yield_to_acknowledgements())
        await asyncio.sleep(MAX_YIELD_SECONDS / 5)
        held = not second.done()  # the others wait their turn
        went = await returns_within(second, MAX_YIELD_SECONDS * 4)
        return first, held, went

    first, held, went = asyncio.run(scenario())
    assert first and held and went  # busy throughout (last POST dated ahead): the turn came from the interval


def test_a_post_after_a_pause_starts_a_burst_and_close_posts_continue_it(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness
    h.add_user()
    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(bot.ingest, "time", SimpleNamespace(monotonic=lambda: clock.now))
    ingest = h.services.ingest
    h.post(text_message("aide"))
    assert ingest.burst_started == ingest.last_post == 1000.0
    clock.now += bot.ingest.QUIET_SECONDS / 2
    h.post(text_message("aide"))
    assert (ingest.burst_started, ingest.last_post) == (1000.0, clock.now)  # the same burst
    clock.now += bot.ingest.QUIET_SECONDS * 2
    h.post(text_message("aide"))
    assert ingest.burst_started == ingest.last_post == clock.now  # a pause, then a new burst

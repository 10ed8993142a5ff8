"""The shared Intron budget."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from bot.engine.budget import RateBudget
from storage.db import close_database, init_database
from storage.models import ApiCall, EndpointPause

WINDOW = 0.6
MARGIN = 0.05
# Call times are epoch seconds (about 1.7e9): sums of them are exact only to about 1e-6.
ROUNDING = 1e-5


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[None]:
    await init_database(database_url)
    yield
    await close_database()


def max_in_window(times: list[float], window: float) -> int:
    return max((sum(1 for u in times if t <= u < t + window) for t in times), default=0)


class RecordingClock:
    """time.time for a RateBudget, keeping every reading. The last reading inside
    `acquire` is the moment the budget granted the call: what its promise is about. (The
    test's own clock after `acquire` returns lags by a database write, which on a busy
    machine is more than this test's small margin.)"""

    def __init__(self) -> None:
        self.readings: list[float] = []

    def __call__(self) -> float:
        now = time.time()
        self.readings.append(now)
        return now


async def spend(budget: RateBudget, clock: RecordingClock, endpoint: str) -> float:
    await budget.acquire(endpoint)
    return clock.readings[-1]


async def test_never_more_than_the_limit_in_any_window(database: None) -> None:
    clock = RecordingClock()
    budget = RateBudget({"status": 3}, window=WINDOW, margin=MARGIN, clock=clock)
    calls = [await spend(budget, clock, "status") for _ in range(7)]
    assert max_in_window(calls, WINDOW) <= 3
    # Seven calls at three per window need three windows.
    assert calls[-1] - calls[0] >= 2 * (WINDOW + MARGIN) - ROUNDING


async def test_call_log_is_pruned_under_steady_load(database: None) -> None:
    """The window never empties under steady load; the log must not grow with every call."""
    budget = RateBudget({"status": 3}, window=WINDOW, margin=MARGIN)
    for _ in range(15):
        await budget.acquire("status")
    # About one window of calls, plus what the last pruning left: never the 15 made.
    assert await ApiCall.filter(endpoint="status").count() <= 6


async def test_a_new_process_sees_what_its_predecessor_spent(database: None) -> None:
    clock = RecordingClock()
    first = RateBudget({"upload": 2}, window=WINDOW, margin=MARGIN, clock=clock)
    spent = [await spend(first, clock, "upload") for _ in range(2)]

    second = RateBudget({"upload": 2}, window=WINDOW, margin=MARGIN, clock=clock)
    await second.load()
    used = second.used("upload")
    # Both, unless the machine was so slow that the window slid past them meanwhile.
    assert used == sum(1 for at in spent if at > clock.readings[-1] - WINDOW - MARGIN)
    third = await spend(second, clock, "upload")
    assert third - spent[0] >= WINDOW + MARGIN - ROUNDING


async def test_retry_after_pause_holds_for_everyone_and_survives_restart(database: None) -> None:
    clock = RecordingClock()
    budget = RateBudget({"status": 100}, window=WINDOW, margin=MARGIN, clock=clock)
    asked_at = time.time()
    await budget.pause("status", 0.5)
    restarted = RateBudget({"status": 100}, window=WINDOW, margin=MARGIN, clock=clock)
    await restarted.load()
    call = await spend(restarted, clock, "status")
    pause = await EndpointPause.get(endpoint="status")
    assert pause.until >= asked_at + 0.5 - ROUNDING
    assert call >= pause.until - ROUNDING

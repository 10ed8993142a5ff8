"""The shared Intron budget."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from bot.engine.budget import RateBudget
from bot.intron.client import MAX_RETRY_AFTER
from storage.db import close_database, init_database
from storage.models import ApiCall, EndpointPause
from tests.conftest import RecordingClock, max_in_window

WINDOW = 0.6
MARGIN = 0.05
# Call times are epoch seconds (about 1.7e9): sums of them are exact only to about 1e-6.
ROUNDING = 1e-5


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[None]:
    await init_database(database_url)
    yield
    await close_database()


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


@pytest.mark.postgres_only
async def test_instances_sharing_a_database_never_exceed_the_limit_together(
    shared_database: None,
) -> None:
    """Three instances' budgets, each with its own memory, on one PostgreSQL database: the
    slots come from the database, so together they keep one limit."""
    clocks = [RecordingClock() for _ in range(3)]
    budgets = [
        RateBudget({"status": 4}, window=WINDOW, margin=MARGIN, clock=clock, shared=True)
        for clock in clocks
    ]

    async def spend_many(budget: RateBudget, clock: RecordingClock) -> list[float]:
        return [await spend(budget, clock, "status") for _ in range(4)]

    spent = await asyncio.gather(*(spend_many(b, c) for b, c in zip(budgets, clocks, strict=True)))
    calls = sorted(at for instance in spent for at in instance)
    assert max_in_window(calls, WINDOW + MARGIN - ROUNDING) <= 4
    # Twelve calls at four per window need three windows, whichever instance made them.
    assert calls[-1] - calls[0] >= 2 * (WINDOW + MARGIN) - ROUNDING
    # Each instance's count includes the others' calls it saw when it last took a slot.
    assert max(b.used("status") for b in budgets) >= 2


@pytest.mark.postgres_only
async def test_a_pause_one_instance_was_told_holds_for_the_others(
    shared_database: None,
) -> None:
    clock = RecordingClock()
    told = RateBudget({"upload": 100}, window=WINDOW, margin=MARGIN, clock=clock, shared=True)
    other = RateBudget({"upload": 100}, window=WINDOW, margin=MARGIN, clock=clock, shared=True)
    await other.acquire("upload")  # running already, before the pause
    asked_at = time.time()
    await told.pause("upload", 0.5)
    await told.pause("upload", 0.1)  # a shorter pause told later does not shorten it
    call = await spend(other, clock, "upload")
    assert call >= asked_at + 0.5 - ROUNDING


async def test_a_slow_call_holds_its_slot_until_it_is_answered(database: None) -> None:
    """Intron counts a call when it arrives, which on a busy machine can be long after the
    slot was granted: the window runs from the answer."""
    clock = RecordingClock()
    budget = RateBudget({"upload": 1}, window=WINDOW, margin=MARGIN, clock=clock)
    async with budget.spend("upload"):
        await asyncio.sleep(0.3)  # the call on its way
    answered = clock.readings[-1]
    assert answered - clock.readings[0] >= 0.3 - ROUNDING
    following = await spend(budget, clock, "upload")
    assert following - answered >= WINDOW + MARGIN - ROUNDING


async def test_a_pause_stored_for_ever_is_read_back_bounded(database: None) -> None:
    """A row written by an older version that stored Retry-After: inf or 1e12 as given."""
    now = time.time()
    await EndpointPause.create(endpoint="upload", until=now + 1e12)
    budget = RateBudget({"upload": 60, "status": 100})
    await budget.load()
    assert now < budget.paused_until("upload") <= time.time() + MAX_RETRY_AFTER
    await budget.pause("status", float("inf"))
    assert budget.paused_until("status") <= time.time() + MAX_RETRY_AFTER

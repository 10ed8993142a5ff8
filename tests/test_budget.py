"""The shared Intron budget and the poll timing built on it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from bot.engine.budget import RateBudget
from bot.engine.poll_policy import PollPolicy
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


def test_polls_are_dense_near_the_start_and_sparse_for_old_jobs() -> None:
    policy = PollPolicy(status_limit=100, in_flight=lambda: 1, used=lambda: 0)
    assert policy.first_delay(7) == pytest.approx(1.4)
    assert policy.first_delay(1200) == 60.0
    assert policy.next_delay(age=1.0, duration=7) == pytest.approx(1.0)
    assert policy.next_delay(age=20.0, duration=7) == pytest.approx(5.0)
    assert policy.next_delay(age=1000.0, duration=7) == 15.0


def test_polls_stretch_to_the_fair_share_as_the_budget_fills() -> None:
    in_flight, used = 2, 0
    policy = PollPolicy(status_limit=100, in_flight=lambda: in_flight, used=lambda: used)
    assert policy.next_delay(age=2.0, duration=7) == 1.0  # a few jobs, empty window: no brake
    in_flight = 40
    # Forty booked polls count as spent: a light brake already.
    assert policy.next_delay(age=2.0, duration=7) == pytest.approx(24 * 0.4**3)
    used = 50
    assert policy.next_delay(age=2.0, duration=7) == pytest.approx(24 * 0.9**3)
    used = 100
    # 40 jobs sharing 100 calls a minute: each may poll every 24 s.
    assert policy.next_delay(age=2.0, duration=7) == pytest.approx(24.0)


def test_first_poll_follows_the_pace_intron_showed() -> None:
    policy = PollPolicy(status_limit=100, in_flight=lambda: 1, used=lambda: 0)
    assert policy.first_delay(60) == pytest.approx(12.0)  # before any result: a fifth
    for _ in range(30):
        policy.observe_done(age=30.0, duration=60)  # Intron takes half the audio's length
    assert policy.first_delay(60) == pytest.approx(18.0, rel=0.01)  # aimed a little early
    assert policy.first_delay(600) == 60.0  # and never more than a minute
    policy.observe_done(age=5.0, duration=None)  # nothing to learn without a duration
    assert policy.first_delay(60) == pytest.approx(18.0, rel=0.01)


@pytest.fixture
async def shared_database(postgres_url: str) -> AsyncIterator[None]:
    await init_database(postgres_url)
    yield
    await close_database()


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

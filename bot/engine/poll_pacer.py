"""Hands status calls to jobs at Intron, one at a time, as the poll policy chooses.

Jobs at Intron rest with a far `next_run_at` (the latest they may wait unasked, so the
scheduler still polls them should this loop stop). This loop reads every job at Intron from the
database, asks `choose_poll` which one to ask about next, and makes that job due now; the
scheduler claims and polls it as any other due job. It also keeps the learned `Pace` and stores
it, so a restart polls as well as the process before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from bot.engine.budget import RateBudget
from bot.engine.poll_policy import (
    BudgetState,
    Pace,
    PollChoice,
    PollRules,
    WaitingJob,
    choose_poll,
)
from bot.intron import STATUS
from storage.models import Job, JobState, PollPace

log = logging.getLogger(__name__)

PACE_NAME = "status"
# Jobs at Intron rest this long between polls unless this loop calls them sooner: only a
# safety net, should this loop stop.
RESTING_SECONDS = 300.0
# A job counts as handed its poll while next_run_at is this close to now or past it.
DUE_SLACK_SECONDS = 0.001


class PollPacer:
    def __init__(
        self,
        budget: RateBudget,
        *,
        wake_scheduler: Callable[[], None],
        window: float,
        rules: PollRules | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._budget = budget
        self._wake_scheduler = wake_scheduler
        self._window = window
        self.rules = rules or PollRules()
        self._clock = clock
        self.pace = Pace()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_dispatch_at: float | None = None

    async def load(self) -> None:
        stored = await PollPace.get_or_none(name=PACE_NAME)
        if stored is not None:
            self.pace = Pace.from_json(stored.stats)
            log.info("poll pace: resumed from %d jobs seen", self.pace.jobs_seen)

    async def learn(self, audio_seconds: float | None, intron_seconds: float) -> None:
        """A job's time at Intron, seen by a poll or a synchronous upload."""
        self.pace.observe(audio_seconds, intron_seconds)
        await PollPace.update_or_create(
            defaults={"stats": self.pace.to_json(), "updated_at": self._clock()}, name=PACE_NAME
        )

    def resting_until(self, now: float) -> float:
        """Where a job at Intron waits between polls, unless this loop calls it sooner."""
        return now + RESTING_SECONDS

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="poll-pacer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                delay = await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("poll pacer: step failed; trying again shortly")
                delay = 1.0
            if delay <= 0:
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    async def step(self) -> float:
        """Hand out at most one poll; returns how long to wait before the next decision."""
        now = self._clock()
        rows = await Job.filter(state=JobState.AT_INTRON).values_list(
            "id", "uploaded_at", "duration", "polled_at", "next_run_at"
        )
        waiting = [
            WaitingJob(
                job_id=job_id,
                uploaded_at=uploaded_at if uploaded_at is not None else now,
                audio_seconds=duration,
                asked_at=polled_at,
                due=next_run_at <= now + DUE_SLACK_SECONDS,
            )
            for job_id, uploaded_at, duration, polled_at, next_run_at in rows
        ]
        choice: PollChoice = choose_poll(
            waiting,
            BudgetState(self._budget.limits[STATUS], self._budget.used(STATUS), self._window),
            self.pace,
            now,
            last_dispatch_at=self._last_dispatch_at,
            rules=self.rules,
        )
        if choice.job_id is None or choice.at > now:
            return max(0.01, choice.at - now)
        handed = await Job.filter(id=choice.job_id, state=JobState.AT_INTRON).update(
            next_run_at=now
        )
        if handed:
            self._last_dispatch_at = now
            self._wake_scheduler()
        return 0.0

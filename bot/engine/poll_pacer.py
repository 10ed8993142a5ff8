"""Hands status calls to jobs at Intron, one at a time, as the poll policy chooses.

Jobs at Intron rest with a far `next_run_at` (the latest they may wait unasked, so the
scheduler still polls them should this loop stop). This loop reads every job at Intron from the
database, asks `choose_poll` which one to ask about next, and hands that job to the scheduler of
this process (`PollTarget.poll_now`), which claims and polls it at once. A job another instance
holds a lease on is being polled there: it counts as handed its poll. This loop also keeps the
learned `Pace` and stores it, so a restart polls as well as the process before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Protocol

from bot.engine import job_store
from bot.engine.budget import RateBudget
from bot.engine.loop import run_forever
from bot.engine.poll_policy import (
    BudgetState,
    Pace,
    PollChoice,
    PollRules,
    WaitingJob,
    choose_poll,
)
from bot.intron import STATUS
from bot.outages import Outages
from storage.models import PollPace

log = logging.getLogger(__name__)

PACE_NAME = "status"
# Jobs at Intron rest this long between polls unless this loop calls them sooner: only a
# safety net, should this loop stop.
RESTING_SECONDS = 300.0
# A job counts as handed its poll while next_run_at is this close to now or past it.
DUE_SLACK_SECONDS = 0.001
# A poll handed over counts as under way until its answer is stored, or this long at most
# (should the process drop it, say at a stop).
HANDED_FOR_AT_MOST_SECONDS = 60.0


class PollTarget(Protocol):
    """Who polls the job this loop chose: the scheduler of this process."""

    @property
    def owner(self) -> str: ...

    async def poll_now(self, job_id: int) -> bool: ...


class PollPacer:
    def __init__(
        self,
        budget: RateBudget,
        *,
        window: float,
        rules: PollRules | None = None,
        clock: Callable[[], float] = time.time,
        outages: Outages | None = None,
    ) -> None:
        self._budget = budget
        self._database = (outages or Outages()).database
        self._target: PollTarget | None = None
        self._window = window
        self.rules = rules or PollRules()
        self._clock = clock
        self.pace = Pace()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_dispatch_at: float | None = None
        # Polls handed over and not answered yet: job -> (its `polled_at` then, when handed).
        self._handed: dict[int, tuple[float | None, float]] = {}
        self._chat_turns: dict[int, float] = {}  # chat -> when it last had a poll handed

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

    def start(self, target: PollTarget) -> None:
        self._target = target
        self._task = asyncio.create_task(
            run_forever("poll pacer", self.step, self._wake, self._database), name="poll-pacer"
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def step(self) -> float:
        """Hand out at most one poll; returns how long to wait before the next decision."""
        now = self._clock()
        assert self._target is not None, "start() names who polls"
        jobs = await job_store.at_intron_jobs()
        self._handed = {
            job.job_id: handed
            for job in jobs
            if (handed := self._handed.get(job.job_id)) is not None
            and handed[0] == job.polled_at
            and now - handed[1] < HANDED_FOR_AT_MOST_SECONDS
        }
        waiting = [
            WaitingJob(
                job_id=job.job_id,
                uploaded_at=job.uploaded_at if job.uploaded_at is not None else now,
                audio_seconds=job.duration,
                asked_at=job.polled_at,
                due=(
                    job.job_id in self._handed
                    or job.next_run_at <= now + DUE_SLACK_SECONDS
                    or _polled_elsewhere(job, self._target.owner, now)
                ),
                chat_id=job.chat_id,
                chat_turn_at=self._chat_turns.get(job.chat_id, 0.0),
            )
            for job in jobs
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
        if not await self._target.poll_now(choice.job_id):
            return 0.05  # it left Intron, or another instance took it, meanwhile: look again
        self._last_dispatch_at = now
        chosen = next(job for job in jobs if job.job_id == choice.job_id)
        self._handed[choice.job_id] = (chosen.polled_at, now)
        self._chat_turns = {job.chat_id: self._chat_turns.get(job.chat_id, 0.0) for job in jobs}
        self._chat_turns[chosen.chat_id] = now
        return 0.0


def _polled_elsewhere(job: job_store.AtIntron, owner: str, now: float) -> bool:
    """Another instance holds the job: its pacer handed it a poll."""
    return job.lease_owner not in (None, owner) and (job.lease_until or 0.0) >= now

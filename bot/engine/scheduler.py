"""The one loop that moves every job forward.

Jobs live in the database; this loop claims the ones that are due, runs each stage as its own
task (so a slow job never holds up another chat), and sleeps until the next one is due or a
handler wakes it. A claim is a lease (owner, expiry) on the job's row: on PostgreSQL a batch of
due jobs is claimed in one statement with `FOR UPDATE SKIP LOCKED`, so instances sharing the
database split the work without waiting on each other's rows; on SQLite (one process) each job
is claimed with a conditional update. A lease is renewed while its stage runs (a 20-minute
upload keeps it), so only a dead instance's jobs are taken over, once their leases expire; an
instance that finds a lease of its own taken over (it stalled past the expiry) stops that
stage, so no job runs in two places.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from tortoise import connections
from tortoise.expressions import Q

from bot.chat.history import ERASED
from bot.engine.pipeline import JobForgotten, JobPipeline
from storage.models import ACTIVE_STATES, FINAL_STATES, Job, JobState

log = logging.getLogger(__name__)

# How soon a dead instance's running stages are taken over; renewed every third of it.
LEASE_SECONDS = 30.0
RENEW_EVERY_SECONDS = LEASE_SECONDS / 3
IDLE_WAKE_SECONDS = 5.0
BATCH = 50
RETENTION_CHECK_SECONDS = 3600.0


class JobScheduler:
    def __init__(
        self,
        pipeline: JobPipeline,
        *,
        owner: str,
        retention_days: int,
        clock: Callable[[], float] = time.time,
        skip_locked: bool = False,
    ) -> None:
        self._pipeline = pipeline
        self._owner = owner
        self._skip_locked = skip_locked  # PostgreSQL: claim batches with SKIP LOCKED
        self._retention = timedelta(days=retention_days)
        self._clock = clock
        self._wake = asyncio.Event()
        self._running: dict[int, asyncio.Task[None]] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._renew_task: asyncio.Task[None] | None = None
        self._at_intron = 0
        self._last_purge = 0.0
        self._last_tick = 0.0

    @property
    def at_intron(self) -> int:
        """Jobs waiting for Intron right now, counted in the database at each tick, so across
        every instance: the poll policy shares the one budget among all of them."""
        return self._at_intron

    @property
    def last_tick_at(self) -> float:
        """When a tick last completed (clock time; 0 before the first): /healthz reads it."""
        return self._last_tick

    async def start(self) -> None:
        # Leases under our name belong to a predecessor that died: take them back now rather
        # than waiting for them to expire.
        released = await Job.filter(lease_owner=self._owner).update(
            lease_owner=None, lease_until=None
        )
        pending = await Job.filter(state__in=ACTIVE_STATES).count()
        log.info("scheduler: %d unfinished jobs to resume (%d leases released)", pending, released)
        self._loop_task = asyncio.create_task(self._loop(), name="job-scheduler")
        self._renew_task = asyncio.create_task(self._renew_leases(), name="job-leases")

    def wake(self) -> None:
        """A job became due now (a new voice note); do not wait for the next tick."""
        self._wake.set()

    async def stop(self, grace: float = 5.0) -> None:
        """Stop claiming; give running stages `grace` seconds, then leave the rest resumable."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        tasks = list(self._running.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._renew_task is not None:
            self._renew_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renew_task
        await Job.filter(lease_owner=self._owner).update(lease_owner=None, lease_until=None)
        log.info("scheduler: stopped")

    async def _loop(self) -> None:
        while True:
            # Cleared before the tick, so a wake while it runs makes the next one start at once.
            self._wake.clear()
            try:
                await self._tick()
                self._last_tick = self._clock()
                delay = await self._until_next_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler: tick failed; trying again shortly")
                delay = 1.0
            # Not asyncio.wait_for: on Python 3.11 it swallows a cancellation that arrives as
            # the wait ends, so a stop coming as a job finishes (which wakes this loop) was
            # lost and the process never exited.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    async def _tick(self) -> None:
        now = self._clock()
        if now - self._last_purge > RETENTION_CHECK_SECONDS:
            self._last_purge = now
            await self.purge_expired()
        self._at_intron = await Job.filter(state=JobState.AT_INTRON).count()
        if self._skip_locked:
            claimed = await self._claim_batch(now)
        else:
            claimed = [job_id for job_id in await self._due(now) if await self._claim(job_id, now)]
        for job_id in claimed:
            task = asyncio.create_task(self._run(job_id), name=f"job-{job_id}")
            self._running[job_id] = task

    async def _due(self, now: float) -> list[int]:
        return list(
            await Job.filter(state__in=ACTIVE_STATES, next_run_at__lte=now)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
            .exclude(id__in=list(self._running))
            .order_by("next_run_at")
            .limit(BATCH)
            .values_list("id", flat=True)
        )

    async def _claim_batch(self, now: float) -> list[int]:
        """PostgreSQL: lease up to BATCH due jobs in one statement. Rows another instance is
        claiming at this moment are skipped, not waited for; it gets them."""
        states = [state.value for state in ACTIVE_STATES]
        # execute_query_dict: Tortoise's execute_query drops an UPDATE's RETURNING rows.
        rows = await connections.get("default").execute_query_dict(
            "UPDATE jobs SET lease_owner = $1, lease_until = $2 WHERE id IN ("
            " SELECT id FROM jobs"
            " WHERE state = ANY($3::text[]) AND next_run_at <= $4"
            " AND (lease_until IS NULL OR lease_until < $4) AND NOT (id = ANY($5::int[]))"
            " ORDER BY next_run_at LIMIT $6 FOR UPDATE SKIP LOCKED"
            ") RETURNING id",
            [self._owner, now + LEASE_SECONDS, states, now, list(self._running), BATCH],
        )
        return [int(row["id"]) for row in rows]

    async def _renew_leases(self) -> None:
        """Keep the leases of the stages running here; stop a stage whose lease another
        instance took (this one stalled past its expiry), so a job never runs twice."""
        while True:
            await asyncio.sleep(RENEW_EVERY_SECONDS)
            running = list(self._running)
            if not running:
                continue
            try:
                await Job.filter(id__in=running, lease_owner=self._owner).update(
                    lease_until=self._clock() + LEASE_SECONDS
                )
                ours = set(
                    await Job.filter(id__in=running, lease_owner=self._owner).values_list(
                        "id", flat=True
                    )
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("scheduler: could not renew job leases; trying again shortly")
                continue
            for job_id in running:
                task = self._running.get(job_id)
                if job_id not in ours and task is not None and not task.done():
                    if await Job.filter(id=job_id, state__in=ACTIVE_STATES).exists():
                        log.warning("job %s: lease taken over by another instance; stopped", job_id)
                        task.cancel()

    async def _until_next_due(self) -> float:
        now = self._clock()
        upcoming = (
            await Job.filter(state__in=ACTIVE_STATES)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
            .exclude(id__in=list(self._running))
            .order_by("next_run_at")
            .limit(1)
            .values_list("next_run_at", flat=True)
        )
        if not upcoming:
            return IDLE_WAKE_SECONDS
        return min(IDLE_WAKE_SECONDS, max(0.02, float(upcoming[0]) - now))

    async def _claim(self, job_id: int, now: float) -> bool:
        won = (
            await Job.filter(id=job_id, state__in=ACTIVE_STATES)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
            .update(lease_owner=self._owner, lease_until=now + LEASE_SECONDS)
        )
        return won == 1

    async def _run(self, job_id: int) -> None:
        try:
            job = await Job.get(id=job_id)
            try:
                await self._pipeline.advance(job)
            except (asyncio.CancelledError, JobForgotten):
                raise
            except Exception:
                log.exception("job %s: unexpected error in state %s", job_id, job.state)
                await self._pipeline.recover(job)
            # Done here before the lease goes: the renewal must not take a released lease
            # for one taken over, and stop this task while it releases.
            self._running.pop(job_id, None)
            if job.state not in FINAL_STATES:
                await Job.filter(id=job_id, lease_owner=self._owner).update(
                    lease_owner=None, lease_until=None
                )
        except asyncio.CancelledError:
            raise
        except JobForgotten:
            log.info("job %s: erased by /forget; stopped", job_id)
        except Exception:
            log.exception("job %s: could not be advanced", job_id)
        finally:
            self._running.pop(job_id, None)
            self._wake.set()

    async def purge_expired(self) -> int:
        """Erase what could identify a patient in jobs finished longer ago than the retention
        period (text, file name, file ids); keep the metadata usage is counted from."""
        cutoff = datetime.now(UTC) - self._retention
        old = Job.filter(state__in=FINAL_STATES, finished_at__lt=cutoff)
        purged = await old.filter(purged_at__isnull=True).update(
            **ERASED, purged_at=datetime.now(UTC)
        )
        # Rows purged by a version that kept file names and ids.
        await old.exclude(telegram_file_id="").update(**ERASED)
        if purged:
            log.info("retention: purged text of %d jobs", purged)
        return purged

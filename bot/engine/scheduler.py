"""The one loop that moves every job forward.

Jobs live in the database; this loop claims the ones that are due, runs each stage as its own
task (so a slow job never holds up another chat), and sleeps until the next one is due or a
handler wakes it. A claim is a lease (owner, expiry) on the job's row (the job store claims on
SQLite and PostgreSQL each their own way). A lease is renewed while its stage runs (a 20-minute
upload keeps it), so only a dead instance's jobs are taken over, once their leases expire; an
instance that finds a lease of its own taken over (it stalled past the expiry) stops that
stage, so no job runs in two places. The poll pacer hands this scheduler the job it chose to
poll directly (`poll_now`), with no trip through the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.engine import job_store
from bot.engine.job_store import JobForgotten
from bot.engine.loop import run_forever
from bot.outages import Outages
from storage.models import FINAL_STATES, Job, JobState

log = logging.getLogger(__name__)

# How soon a dead instance's running stages are taken over; renewed every third of it.
LEASE_SECONDS = 30.0
RENEW_EVERY_SECONDS = LEASE_SECONDS / 3
IDLE_WAKE_SECONDS = 5.0
BATCH = 50
RETENTION_CHECK_SECONDS = 3600.0


class JobStages(Protocol):
    """What runs a claimed job: the pipeline, or a test's stand-in."""

    async def advance(self, job: Job) -> None: ...

    async def recover(self, job: Job) -> None: ...


class JobScheduler:
    def __init__(
        self,
        stages: JobStages,
        *,
        owner: str,
        retention_days: int,
        clock: Callable[[], float] = time.time,
        skip_locked: bool = False,
        transfer_slots: int = 4,
        outages: Outages | None = None,
    ) -> None:
        self._stages = stages
        self._database = (outages or Outages()).database
        self._owner = owner
        self._postgres = skip_locked  # PostgreSQL: claim batches with SKIP LOCKED
        self._retention = timedelta(days=retention_days)
        self._clock = clock
        self._wake = asyncio.Event()
        self._running: dict[int, asyncio.Task[None]] = {}
        # Jobs claimed to send their audio to Intron, at most twice the transfer slots: the
        # rest wait in the database, in fair turns between chats, and not in this process.
        self._transfers: set[int] = set()
        self._transfer_room = 2 * transfer_slots
        # Polls the pacer handed over that have not ended yet; of them, those handed while
        # another stage of the job ran here, to run as soon as it ends.
        self._polls_handed: set[int] = set()
        self._polls_queued: set[int] = set()
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

    @property
    def owner(self) -> str:
        return self._owner

    async def start(self) -> None:
        # Leases under our name belong to a predecessor that died: take them back now rather
        # than waiting for them to expire.
        released = await job_store.release_leases_of(self._owner)
        pending = await job_store.count_active()
        log.info("scheduler: %d unfinished jobs to resume (%d leases released)", pending, released)
        self._loop_task = asyncio.create_task(
            run_forever("scheduler", self._tick, self._wake, self._database), name="job-scheduler"
        )
        self._renew_task = asyncio.create_task(self._renew_leases(), name="job-leases")

    async def __aenter__(self) -> JobScheduler:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    def wake(self) -> None:
        """A job became due now (a new voice note); do not wait for the next tick."""
        self._wake.set()

    async def poll_now(self, job_id: int) -> bool:
        """The poll pacer chose this job: claim it and poll it now (or as soon as the stage
        of it running here ends). False when another instance holds it or it left Intron."""
        if job_id in self._polls_handed:
            return False
        if job_id in self._running:
            self._polls_handed.add(job_id)
            self._polls_queued.add(job_id)
            return True
        now = self._clock()
        if not await job_store.claim_for_poll(job_id, self._owner, now, now + LEASE_SECONDS):
            return False
        self._polls_handed.add(job_id)
        self._start(job_id)
        return True

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
        await job_store.release_leases_of(self._owner)
        log.info("scheduler: stopped")

    async def _tick(self) -> float:
        """Claim and start what is due; returns how long until the next job falls due."""
        now = self._clock()
        if now - self._last_purge > RETENTION_CHECK_SECONDS:
            await self.purge_expired()
            self._last_purge = now  # after it: a purge the database failed is tried next tick
        self._at_intron = await job_store.count_at_intron()
        claimed = await job_store.claim_due(
            self._owner,
            now,
            lease_until=now + LEASE_SECONDS,
            running=list(self._running),
            limit=BATCH,
            transfer_room=self._transfer_room - len(self._transfers),
            postgres=self._postgres,
        )
        self._transfers.update(claimed.transfers)
        for job_id in [*claimed.transfers, *claimed.others]:
            self._start(job_id)
        self._last_tick = self._clock()
        return await self._until_next_due()

    async def _until_next_due(self) -> float:
        now = self._clock()
        upcoming = await job_store.next_due_at(
            now,
            running=list(self._running),
            transfers=len(self._transfers) < self._transfer_room,
        )
        if upcoming is None:
            return IDLE_WAKE_SECONDS
        return min(IDLE_WAKE_SECONDS, max(0.02, upcoming - now))

    def _start(self, job_id: int) -> None:
        self._running[job_id] = asyncio.create_task(self._run(job_id), name=f"job-{job_id}")

    async def _renew_leases(self) -> None:
        """Keep the leases of the stages running here; stop a stage whose lease another
        instance took (this one stalled past its expiry), so a job never runs twice."""
        while True:
            await asyncio.sleep(RENEW_EVERY_SECONDS)
            running = list(self._running)
            if not running:
                continue
            try:
                ours = await job_store.renew(self._owner, running, self._clock() + LEASE_SECONDS)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._database.failed(exc, "job lease renewal")
                continue
            self._database.worked()
            for job_id in running:
                task = self._running.get(job_id)
                if job_id not in ours and task is not None and not task.done():
                    if await job_store.is_active(job_id):
                        log.warning("job %s: lease taken over by another instance; stopped", job_id)
                        task.cancel()

    async def _run(self, job_id: int) -> None:
        try:
            while True:
                job = await job_store.get(job_id)
                try:
                    await self._stages.advance(job)
                except (asyncio.CancelledError, JobForgotten):
                    raise
                except Exception as exc:
                    # A database outage is not the job's fault: it goes on from its last saved
                    # state once the database is back (its lease released below, or expired).
                    if not self._database.outage(exc, "job stages"):
                        log.exception("job %s: unexpected error in state %s", job_id, job.state)
                        await self._stages.recover(job)
                if job_id not in self._polls_queued or job.state != JobState.AT_INTRON:
                    break
                # The pacer chose it while this stage ran: its poll, under the same lease.
                self._polls_queued.discard(job_id)
            # Done here before the lease goes: the renewal must not take a released lease
            # for one taken over, and stop this task while it releases.
            self._running.pop(job_id, None)
            if job.state not in FINAL_STATES:
                await job_store.release_lease(job_id, self._owner)
        except asyncio.CancelledError:
            raise
        except JobForgotten:
            log.info("job %s: erased by /forget; stopped", job_id)
        except Exception as exc:
            if not self._database.outage(exc, "job stages"):
                log.exception("job %s: could not be advanced", job_id)
        finally:
            self._running.pop(job_id, None)
            self._transfers.discard(job_id)
            self._polls_handed.discard(job_id)
            self._polls_queued.discard(job_id)
            self._wake.set()

    async def purge_expired(self) -> int:
        """Erase what could identify a patient in jobs finished longer ago than the retention
        period (text, file name, file ids); keep the metadata usage is counted from."""
        purged = await job_store.purge_expired(datetime.now(UTC) - self._retention)
        if purged:
            log.info("retention: purged text of %d jobs", purged)
        return purged

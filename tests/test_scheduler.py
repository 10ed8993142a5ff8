"""The scheduler's loop: a job made due while it is busy is started at once, not a tick later."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from bot.engine.scheduler import IDLE_WAKE_SECONDS, JobScheduler, JobStages
from storage.db import close_database, init_database
from storage.models import Job, JobState
from tests.conftest import eventually


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[None]:
    await init_database(database_url)
    yield
    await close_database()


class RecordingPipeline:
    """Stands in for the stages: notes when each job was started and finishes it."""

    def __init__(self) -> None:
        self.started: dict[int, float] = {}
        self.any_started = asyncio.Event()

    async def advance(self, job: Job) -> None:
        self.started[job.id] = time.monotonic()
        self.any_started.set()
        await Job.filter(id=job.id).update(state=JobState.DELIVERED)
        job.state = JobState.DELIVERED

    async def recover(self, job: Job) -> None:
        raise AssertionError("no stage fails here")


class WokenDuringTick(JobScheduler):
    """A handler stores a job and wakes the scheduler at the worst moment: after the loop
    looked for the next due job, before it goes to sleep."""

    woken_at: float | None = None

    async def _until_next_due(self) -> float:
        delay = await super()._until_next_due()
        if self.woken_at is None:
            await new_job()
            self.woken_at = time.monotonic()
            self.wake()
        return delay


async def new_job() -> Job:
    return await Job.create(
        chat_id=1,
        message_id=int(time.time() * 1000),
        media_kind="voice",
        telegram_file_id="f",
        file_name="voice.ogg",
        options={},
        next_run_at=0.0,
    )


async def test_wake_during_a_tick_starts_the_job_at_once(database: None) -> None:
    pipeline = RecordingPipeline()
    scheduler = WokenDuringTick(pipeline, owner="test", retention_days=30)
    await scheduler.start()
    try:
        await asyncio.wait_for(pipeline.any_started.wait(), 3 * IDLE_WAKE_SECONDS)
        assert scheduler.woken_at is not None
        [started] = pipeline.started.values()
        # Losing the wake meant sleeping out the idle tick (5 s).
        assert started - scheduler.woken_at < IDLE_WAKE_SECONDS / 2
    finally:
        await scheduler.stop(grace=1)


class SlowPipeline:
    """A stage that runs far longer than a lease (a 20-minute upload, scaled down), noting
    which scheduler ran each job and whether two ever ran one at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.runs: list[tuple[str, int]] = []
        self.running: set[int] = set()
        self.overlaps = 0

    def for_owner(self, owner: str) -> JobStages:
        pipeline = self

        class Stage:
            async def advance(self, job: Job) -> None:
                if job.id in pipeline.running:
                    pipeline.overlaps += 1
                pipeline.running.add(job.id)
                pipeline.runs.append((owner, job.id))
                try:
                    await asyncio.sleep(pipeline.seconds)
                    await Job.filter(id=job.id).update(state=JobState.DELIVERED)
                    job.state = JobState.DELIVERED
                finally:
                    pipeline.running.discard(job.id)

            async def recover(self, job: Job) -> None:
                raise AssertionError("no stage fails here")

        return Stage()


@pytest.fixture
def short_leases(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr("bot.engine.scheduler.LEASE_SECONDS", 0.6)
    monkeypatch.setattr("bot.engine.scheduler.RENEW_EVERY_SECONDS", 0.2)
    return 0.6


async def test_a_long_stage_keeps_its_lease_and_a_dead_ones_is_taken_over(
    database: None, database_url: str, short_leases: float
) -> None:
    on_postgres = not database_url.startswith("sqlite")
    slow = SlowPipeline(seconds=4 * short_leases)
    first = JobScheduler(
        slow.for_owner("first"), owner="first", retention_days=30, skip_locked=on_postgres
    )
    second = JobScheduler(
        slow.for_owner("second"), owner="second", retention_days=30, skip_locked=on_postgres
    )

    def ran(owner: str, job_id: int) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return (owner, job_id) in slow.runs

        return check

    async def stage_over() -> bool:
        return not slow.running

    job = await new_job()
    await first.start()
    try:
        await eventually(ran("first", job.id), what="the first scheduler started the job")
        await second.start()
        await eventually(stage_over, what="the stage ran out")
        # Four leases long, and the second scheduler never took it meanwhile.
        assert slow.runs == [("first", job.id)]
        assert slow.overlaps == 0

        # A job leased by an instance that died mid-stage: nobody renews its lease.
        slow.seconds = 0.1
        orphan = await Job.create(
            chat_id=2,
            message_id=1,
            media_kind="voice",
            telegram_file_id="f",
            file_name="voice.ogg",
            options={},
            next_run_at=0.0,
            lease_owner="dead-instance",
            lease_until=time.time() + short_leases,
        )

        async def taken_over() -> bool:
            return await ran("first", orphan.id)() or await ran("second", orphan.id)()

        await eventually(taken_over, what="a live scheduler took it over once its lease expired")
        assert slow.overlaps == 0
    finally:
        await first.stop(grace=1)
        await second.stop(grace=1)

"""The scheduler's loop: a job made due while it is busy is started at once, not a tick later."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from bot.engine.pipeline import JobPipeline
from bot.engine.scheduler import IDLE_WAKE_SECONDS, JobScheduler
from storage.db import close_database, init_database
from storage.models import Job, JobState


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
    scheduler = WokenDuringTick(
        cast(JobPipeline, cast(Any, pipeline)), owner="test", retention_days=30
    )
    await scheduler.start()
    try:
        await asyncio.wait_for(pipeline.any_started.wait(), 3 * IDLE_WAKE_SECONDS)
        assert scheduler.woken_at is not None
        [started] = pipeline.started.values()
        # Losing the wake meant sleeping out the idle tick (5 s).
        assert started - scheduler.woken_at < IDLE_WAKE_SECONDS / 2
    finally:
        await scheduler.stop(grace=1)

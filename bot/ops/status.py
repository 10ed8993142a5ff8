"""How the bot is doing right now, read from the database and the Intron budget: for the
operators' /status and the metrics' job gauges."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.functions import Count

from bot.engine import job_store
from bot.engine.allowance import day_started
from storage.models import ACTIVE_STATES, Job, JobState

WAITING_STATES = (JobState.RECEIVED, JobState.DOWNLOADING, JobState.UPLOADING)
FAILURE_WINDOW = timedelta(hours=24)
BUSIEST = 5  # chats /status lists by today's audio
LATENCY_WINDOW = timedelta(hours=1)


async def active_job_counts() -> dict[str, int]:
    """Unfinished jobs per state, every state present: one query on the state index."""
    rows = (
        await Job.filter(state__in=ACTIVE_STATES)
        .annotate(n=Count("id"))
        .group_by("state")
        .values_list("state", "n")
    )
    counts = {str(state): 0 for state in ACTIVE_STATES}
    counts.update({str(state): int(n) for state, n in rows})
    return counts


@dataclass(frozen=True)
class BudgetUse:
    endpoint: str
    used: int
    limit: int


@dataclass(frozen=True)
class StatusReport:
    waiting: int  # received, downloading or uploading
    held: int  # waiting for their chat to agree to the consent text (CONSENT_REQUIRED)
    at_intron: int
    replying: int
    failed_last_day: int
    delivered_last_day: int
    median_added_latency: float | None  # seconds, over the last hour's deliveries
    latency_samples: int
    budget: tuple[BudgetUse, ...]
    busiest_today: tuple[tuple[int, float], ...] = ()  # (chat, audio seconds) since 00:00 UTC


async def collect_status(
    *, budget_used: Callable[[str], int], limits: Mapping[str, int], now: datetime
) -> StatusReport:
    counts = await active_job_counts()
    finished_since = Job.filter(finished_at__gte=now - FAILURE_WINDOW)
    failed = await finished_since.filter(state=JobState.FAILED).count()
    delivered = await finished_since.filter(state=JobState.DELIVERED).count()
    recent = await Job.filter(
        state=JobState.DELIVERED,
        finished_at__gte=now - LATENCY_WINDOW,
        transcribed_at__isnull=False,
    ).values_list("transcribed_at", "finished_at")
    latencies = [max(0.0, done.timestamp() - float(seen)) for seen, done in recent]
    return StatusReport(
        waiting=sum(counts[str(state)] for state in WAITING_STATES),
        held=counts[str(JobState.HELD)],
        at_intron=counts[str(JobState.AT_INTRON)],
        replying=counts[str(JobState.REPLYING)],
        failed_last_day=failed,
        delivered_last_day=delivered,
        median_added_latency=statistics.median(latencies) if latencies else None,
        latency_samples=len(latencies),
        budget=tuple(BudgetUse(e, budget_used(e), limit) for e, limit in limits.items()),
        busiest_today=tuple(await job_store.busiest_chats_since(day_started(now), BUSIEST)),
    )

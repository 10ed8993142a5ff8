"""What the bot kept about a chat: recent jobs, audio minutes, and forgetting it all."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.queryset import QuerySet

from storage.models import FINAL_STATES, ChatSettings, InboxUpdate, Job

HISTORY_SIZE = 10


@dataclass(frozen=True)
class Usage:
    jobs: int
    seconds: float
    chats: int = 1

    @property
    def minutes(self) -> float:
        return self.seconds / 60


async def recent_jobs(chat_id: int, limit: int = HISTORY_SIZE) -> list[Job]:
    return await Job.filter(chat_id=chat_id).order_by("-id").limit(limit)


async def job_of_chat(chat_id: int, job_id: int) -> Job | None:
    return await Job.get_or_none(id=job_id, chat_id=chat_id)


async def chat_usage(chat_id: int) -> Usage:
    return await _usage(Job.filter(chat_id=chat_id))


async def total_usage() -> Usage:
    return await _usage(Job.all())


async def _usage(jobs: QuerySet[Job]) -> Usage:
    rows = await jobs.filter(processed_seconds__isnull=False).values("chat_id", "processed_seconds")
    return Usage(
        jobs=len(rows),
        seconds=sum(float(r["processed_seconds"]) for r in rows),
        chats=len({r["chat_id"] for r in rows}),
    )


async def forget_chat(chat_id: int) -> int:
    """Erase the chat's transcripts, results and settings. Finished jobs keep only metadata
    (date, duration, state) so usage stays countable; returns how many jobs were erased."""
    erased = await Job.filter(
        chat_id=chat_id, state__in=FINAL_STATES, purged_at__isnull=True
    ).update(result=None, purged_at=datetime.now(UTC))
    await ChatSettings.filter(chat_id=chat_id).delete()
    # Stored updates quote what people wrote and sent; those still waiting are kept to be handled.
    await InboxUpdate.filter(chat_id=chat_id, handled_at__isnull=False).delete()
    return erased

"""What the bot kept about a chat: recent jobs, audio minutes, resending a result, and
forgetting it all."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.functions import Count, Sum
from tortoise.queryset import QuerySet

from bot.engine.delivery import result_parts, threading_in
from bot.i18n import Translator
from bot.telegram_io.migration import chat_family
from bot.telegram_io.replies import ChatReplier
from storage.models import ACTIVE_STATES, ChatSettings, InboxUpdate, Job, JobState

log = logging.getLogger(__name__)

HISTORY_SIZE = 10
# Erasing a job: its text, and what could name the patient or fetch the audio again (the file
# name, Telegram's file id, Intron's file id, a link's URL, and the audio's unique id, which
# would let a later copy be answered from it). Date, duration and state stay, for /usage.
ERASED: dict[str, Any] = {
    "result": None,
    "reply": None,
    "file_name": "",
    "telegram_file_id": "",
    "intron_file_id": None,
    "source_url": None,
    "file_unique_id": None,
}


@dataclass(frozen=True)
class Usage:
    jobs: int  # recordings transcribed (audio minutes used)
    seconds: float
    chats: int = 1
    reused: int = 0  # recordings answered from an earlier result: no audio minutes used

    @property
    def minutes(self) -> float:
        return self.seconds / 60


@dataclass(frozen=True)
class Forgotten:
    erased: int  # jobs whose stored text was erased
    cancelled: int  # of them, jobs that were still in progress
    status_messages: list[tuple[int, int]]  # (chat, message) of their progress messages


async def recent_jobs(chat_id: int, limit: int = HISTORY_SIZE) -> list[Job]:
    family = await chat_family(chat_id)
    return await Job.filter(chat_id__in=family).order_by("-id").limit(limit)


async def job_of_chat(chat_id: int, job_id: int) -> Job | None:
    return await Job.get_or_none(id=job_id, chat_id__in=await chat_family(chat_id))


def can_resend(job: Job) -> bool:
    """Any stored result, whatever ended its first delivery; not while it is being sent."""
    return job.result is not None and job.state not in ACTIVE_STATES


async def resend(job: Job, replier: ChatReplier, chat_id: int, tr: Translator) -> None:
    """Send a stored result again to `chat_id`, threaded to its recording if it is there, with
    headings in `tr`'s language."""
    reply_to_id, thread_id = threading_in(job, chat_id)
    for part in result_parts(job, tr):
        await replier.send_part(chat_id, part, reply_to_id=reply_to_id, thread_id=thread_id)
    if job.state != JobState.DELIVERED:
        await Job.filter(id=job.id).update(state=JobState.DELIVERED, failure=None)
        log.info("job %s: delivered from /history", job.id)


async def chat_usage(chat_id: int) -> Usage:
    return await _usage(Job.filter(chat_id__in=await chat_family(chat_id)))


async def total_usage() -> Usage:
    return await _usage(Job.all())


async def _usage(jobs: QuerySet[Job]) -> Usage:
    reused = await jobs.filter(reused_from__isnull=False, state=JobState.DELIVERED).count()
    rows = (
        await jobs.filter(processed_seconds__isnull=False, reused_from__isnull=True)
        .annotate(
            jobs=Count("id"),
            seconds=Sum("processed_seconds"),
            chats=Count("chat_id", distinct=True),
        )
        .values("jobs", "seconds", "chats")
    )
    row = rows[0] if rows else {}
    return Usage(
        jobs=int(row.get("jobs") or 0),
        seconds=float(row.get("seconds") or 0.0),
        chats=int(row.get("chats") or 0),
        reused=reused,
    )


async def forget_chat(chat_id: int) -> Forgotten:
    """Erase the chat's transcripts, results, file names and ids, and its settings; stop its
    jobs in progress (a stage already running notices before it sends anything)."""
    family = await chat_family(chat_id)
    now = datetime.now(UTC)
    jobs = Job.filter(chat_id__in=family)
    running = await jobs.filter(state__in=ACTIVE_STATES).values_list("chat_id", "status_message_id")
    # One update per row, so a stage saving meanwhile either lands before it (and is then
    # overwritten) or finds `purged_at` set and stops.
    cancelled = await jobs.filter(state__in=ACTIVE_STATES).update(
        state=JobState.FAILED,
        finished_at=now,
        lease_owner=None,
        lease_until=None,
        purged_at=now,
        **ERASED,
    )
    erased = cancelled + await jobs.filter(purged_at__isnull=True).update(**ERASED, purged_at=now)
    await jobs.exclude(telegram_file_id="").update(**ERASED)  # purged earlier, names kept
    await ChatSettings.filter(chat_id__in=family).delete()
    # Stored updates quote what people wrote and sent; those still waiting are kept to be handled.
    await InboxUpdate.filter(chat_id__in=family, handled_at__isnull=False).delete()
    if cancelled:
        log.info("forget: stopped %d jobs in progress", cancelled)
    return Forgotten(
        erased=erased,
        cancelled=cancelled,
        status_messages=[(int(c), int(m)) for c, m in running if m is not None],
    )

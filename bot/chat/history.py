"""What the bot kept about a chat: recent jobs, audio minutes, resending a result, and
forgetting it all."""

from __future__ import annotations

import logging

from bot.chat.result_menu import keyboard_for
from bot.engine import job_store
from bot.engine.delivery import rendered_result, threading_in
from bot.engine.job_store import Erasure, Usage
from bot.i18n import Translator
from bot.telegram_io.migration import chat_family
from bot.telegram_io.replies import ChatReplier
from storage.models import ACTIVE_STATES, ChatSettings, InboxUpdate, Job

log = logging.getLogger(__name__)

HISTORY_SIZE = 10


async def recent_jobs(chat_id: int, limit: int = HISTORY_SIZE) -> list[Job]:
    return await job_store.recent_of(await chat_family(chat_id), limit)


async def job_of_chat(chat_id: int, job_id: int) -> Job | None:
    return await job_store.of_chats(await chat_family(chat_id), job_id)


def can_resend(job: Job) -> bool:
    """Any stored result, whatever ended its first delivery; not while it is being sent."""
    return job.result is not None and job.state not in ACTIVE_STATES


async def resend(job: Job, replier: ChatReplier, chat_id: int, tr: Translator) -> None:
    """Send a stored result again to `chat_id`, threaded to its recording if it is there, with
    headings in `tr`'s language and its buttons on the note's last part."""
    reply_to_id, thread_id = threading_in(job, chat_id)
    parts, note_end = rendered_result(job, tr)
    keyboard = await keyboard_for(job, tr)
    for index, part in enumerate(parts):
        await replier.send_part(
            chat_id,
            part,
            reply_to_id=reply_to_id,
            thread_id=thread_id,
            markup=keyboard if index == note_end else None,
        )
    if await job_store.mark_resent(job.id):
        log.info("job %s: delivered from /history", job.id)


async def chat_usage(chat_id: int) -> Usage:
    return await job_store.usage(await chat_family(chat_id))


async def total_usage() -> Usage:
    return await job_store.usage(None)


async def forget_chat(chat_id: int) -> Erasure:
    """Erase the chat's transcripts, results, file names and ids, and its settings; stop its
    jobs in progress (a stage already running notices before it sends anything)."""
    family = await chat_family(chat_id)
    erasure = await job_store.forget_chats(family)
    await ChatSettings.filter(chat_id__in=family).delete()
    # Stored updates quote what people wrote and sent; those still waiting are kept to be handled.
    await InboxUpdate.filter(chat_id__in=family, handled_at__isnull=False).delete()
    if erasure.cancelled:
        log.info("forget: stopped %d jobs in progress", erasure.cancelled)
    return erasure

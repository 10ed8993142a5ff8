"""What the bot kept about a chat: recent jobs, audio minutes, resending a result, and
forgetting it all."""

from __future__ import annotations

import logging

from bot.chat.consent import withdraw
from bot.chat.result_menu import keyboard_for
from bot.engine import job_store
from bot.engine.delivery import parts_to_json, rendered_result
from bot.engine.job_store import Erasure, Usage
from bot.i18n import Translator
from bot.telegram_io.migration import chat_family
from storage.db import truncate_wal
from storage.models import ACTIVE_STATES, ChatSettings, InboxUpdate, Job

log = logging.getLogger(__name__)

HISTORY_SIZE = 10
# A second press on the same result within this long is told the first is on its way.
RESEND_COOLDOWN_SECONDS = 60.0


async def recent_jobs(chat_id: int, limit: int = HISTORY_SIZE) -> list[Job]:
    return await job_store.recent_of(await chat_family(chat_id), limit)


async def job_of_chat(chat_id: int, job_id: int) -> Job | None:
    return await job_store.of_chats(await chat_family(chat_id), job_id)


def can_resend(job: Job) -> bool:
    """Any stored result, whatever ended its first delivery; not while it is being sent."""
    return job.result is not None and job.state not in ACTIVE_STATES


async def resend(job: Job, tr: Translator, *, now: float, asked_by_hand: bool = True) -> bool:
    """Send a stored result again, threaded to its recording, with headings in `tr`'s
    language: the engine sends it in the chat's turn, so the chat's other updates never wait
    for it. False when it is on its way already (being sent, or asked for within the
    cooldown)."""
    parts, note_end = rendered_result(job, tr)
    # With its buttons on the note's last part, as when it was first delivered.
    reply = parts_to_json(parts, keyboard=await keyboard_for(job, tr), keyboard_at=note_end)
    asked = await job_store.resend(
        job.id,
        reply=reply,
        language=tr.language,
        now=now,
        # A result sent again because its speakers were named neither waits for the cooldown
        # nor starts one: /history's button stays ready.
        cooldown=RESEND_COOLDOWN_SECONDS if asked_by_hand else 0.0,
        asked_at=now if asked_by_hand else now - RESEND_COOLDOWN_SECONDS,
    )
    if asked:
        log.info("job %s: sending the result again from /history", job.id)
    return asked


async def chat_usage(chat_id: int) -> Usage:
    return await job_store.usage(await chat_family(chat_id))


async def total_usage() -> Usage:
    return await job_store.usage(None)


async def forget_chat(chat_id: int) -> Erasure:
    """Erase the chat's transcripts, results, file names and ids, and its settings; stop its
    jobs in progress (a stage already running notices before it sends anything) and those
    held for consent; withdraw its consent."""
    family = await chat_family(chat_id)
    erasure = await job_store.forget_chats(family)
    await ChatSettings.filter(chat_id__in=family).delete()
    await withdraw(family)
    # Stored updates quote what people wrote and sent; those still waiting are kept to be handled.
    await InboxUpdate.filter(chat_id__in=family, handled_at__isnull=False).delete()
    await truncate_wal()  # last: every erased row's old bytes leave the files at once
    if erasure.cancelled:
        log.info("forget: stopped %d jobs in progress", erasure.cancelled)
    return erasure

"""Answering a copy of a recording from the result its audio already has.

Telegram gives every copy of a file (forwarded from chat to chat) the same `file_unique_id`.
A copy asking for the same options as a recording transcribed before is answered from that
stored result: no download, no upload, no wait. Only a job that was itself transcribed is a
source, and only while it holds its text, so erasing it (/forget in its chat, or retention)
ends its reuse everywhere. What a copy receives is the transcript of the audio its sender
already has, so nothing passes between chats that they did not share.

"Forwarded copies" off in a chat's settings works both ways: its copies are transcribed
afresh (the caller does not ask), and its own results answer no other chat's copies.
"""

from __future__ import annotations

from typing import Any

from bot.telegram_io.migration import chat_family, current_chat_id
from storage.models import FINAL_STATES, ChatSettings, Job, JobState

# Recent candidates looked at: the same audio with other options is rare beyond that.
CANDIDATES = 20


def _holding_its_text() -> dict[str, Any]:
    return {
        "state": JobState.DELIVERED,
        "purged_at__isnull": True,
        "result__isnull": False,
        "reused_from__isnull": True,
    }


async def reusable_source(file_unique_id: str | None, options: dict[str, Any]) -> int | None:
    """The job whose result may answer a copy of this audio with these options, if any."""
    if not file_unique_id:
        return None
    candidates = (
        await Job.filter(file_unique_id=file_unique_id, **_holding_its_text())
        .order_by("-id")
        .limit(CANDIDATES)
        .values_list("id", "chat_id", "options")
    )
    for job_id, chat_id, stored in candidates:
        if stored == options and await _shares_results(int(chat_id)):
            return int(job_id)
    return None


async def earlier_result(job_id: int | None) -> Job | None:
    """The source job, read again when its result is copied: still holding its text, and its
    chat still sharing it (the setting may have changed since the copy arrived)?"""
    if job_id is None:
        return None
    source = await Job.get_or_none(id=job_id, **_holding_its_text())
    if source is None or not await _shares_results(source.chat_id):
        return None
    return source


async def _shares_results(chat_id: int) -> bool:
    """Whether the chat a result was transcribed in lets it answer other chats' copies. Its
    settings are kept under its current id when a group was upgraded since; a chat without
    settings has the default (on)."""
    settings = await ChatSettings.get_or_none(chat_id=await current_chat_id(chat_id))
    return settings is None or settings.reuse_results


async def answered_in_chat(
    chat_id: int,
    *,
    message_id: int,
    file_unique_id: str | None,
    options: dict[str, Any],
) -> Job | None:
    """A stored result this chat already received for this recording: the message itself, or
    another copy of the same audio asked with the same options."""
    family = await chat_family(chat_id)
    stored = Job.filter(
        chat_id__in=family, state__in=FINAL_STATES, purged_at__isnull=True, result__isnull=False
    )
    # Message ids count per chat: an upgraded group's old messages share numbers with new ones.
    same_message = await stored.filter(chat_id=chat_id, message_id=message_id, link_index=0).first()
    if same_message is not None or not file_unique_id:
        return same_message
    copies = await stored.filter(file_unique_id=file_unique_id).order_by("-id").limit(CANDIDATES)
    return next((job for job in copies if job.options == options), None)

"""Turning an accepted message into a durable job, exactly once per (chat, message)."""

from __future__ import annotations

import logging
import time

from bot.engine import job_store
from bot.engine.allowance import OverAllowance, admits
from bot.engine.reuse import reusable_source
from bot.intron.options import TranscriptionOptions
from bot.telegram_io.audio_input import AudioInput
from storage.models import FINAL_STATES, Job

log = logging.getLogger(__name__)

# A job waits this long for its status message before the scheduler takes it anyway, in case
# the handler that created it died in between.
STATUS_GRACE_SECONDS = 15.0


async def create_job(
    *,
    chat_id: int,
    chat_type: str,
    message_id: int,
    thread_id: int | None,
    audio: AudioInput,
    options: TranscriptionOptions,
    language: str,
    reuse: bool = False,
    link_index: int = 0,
    daily_minutes: float | None = None,
) -> Job | OverAllowance | None:
    """Store the job before any network call. None if this message (or this link of it)
    already has a job: Telegram delivers updates at least once. A job whose handler was cut
    short before it released it (the process died, and the update is now handled again) is
    returned again, so the user still gets the status message and the job starts without
    waiting out the grace. With `reuse`, a copy of audio already transcribed with the same
    options is marked to be answered from that result (`reused_from`). `language` is the bot
    language the job will be answered in. `daily_minutes` is the configured allowance: a
    recording that would take the chat past its minutes for today is refused (OverAllowance)
    and stored as nothing; a copy answered from an earlier result costs nothing."""
    existing = await job_store.find(chat_id, message_id, link_index)
    if existing is not None:
        return existing if _awaiting_release(existing) else None
    stored_options = options.model_dump(mode="json")
    source = await reusable_source(audio.unique_id, stored_options) if reuse else None
    if source is None:
        refused = await admits(chat_id, audio.duration, daily_minutes)
        if refused is not None:
            log.info("chat's daily audio allowance reached; recording refused")
            return refused
    job = await job_store.create(
        chat_id=chat_id,
        chat_type=chat_type,
        message_id=message_id,
        link_index=link_index,
        message_thread_id=thread_id,
        media_kind=audio.kind,
        telegram_file_id=audio.file_id,
        file_unique_id=audio.unique_id,
        source_url=audio.url,
        file_name=audio.file_name[:128],
        mime_type=audio.mime_type,
        file_size=audio.size,
        duration=audio.duration,
        options=stored_options,
        reused_from=source,
        language=language,
        next_run_at=time.time() + STATUS_GRACE_SECONDS,
    )
    if job is None:
        return None
    log.info(
        "job %s: received (%s, %s bytes, %ss%s)",
        job.id,
        audio.kind,
        audio.size,
        audio.duration,
        f", answered from job {source}" if source else "",
    )
    return job


def _awaiting_release(job: Job) -> bool:
    """No status message ever reached the chat and the job is not over: the handler that
    created it died before telling the user, however long ago (the scheduler may have taken
    the job meanwhile; the status message then joins it, as any late one does)."""
    return job.status_message_id is None and job.state not in FINAL_STATES


async def release_job(job: Job, status_message_id: int | None) -> bool:
    """The user has been told the audio arrived: the job may start now. False if the job
    already finished meanwhile (a slow "Received"): its reply could not remove that message,
    so the caller must."""
    return await job_store.release(job.id, status_message_id, time.time())

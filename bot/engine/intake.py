"""Turning an accepted message into a durable job, exactly once per (chat, message)."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass

from bot.engine import job_store
from bot.engine.allowance import OverAllowance, admits
from bot.engine.reuse import reusable_source
from bot.intron.options import TranscriptionOptions
from bot.telegram_io.audio_input import AudioInput
from storage.models import FINAL_STATES, Job, JobState

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
    held: bool = False,
) -> Job | OverAllowance | None:
    """Store the job before any network call. None if this message (or this link of it)
    already has a job: Telegram delivers updates at least once. A job whose handler was cut
    short before it released it (the process died, and the update is now handled again) is
    returned again, so the user still gets the status message and the job starts without
    waiting out the grace. With `reuse`, a copy of audio already transcribed with the same
    options is marked to be answered from that result (`reused_from`). `language` is the bot
    language the job will be answered in. `daily_minutes` is the configured allowance: a
    recording that would take the chat past its minutes for today is refused (OverAllowance)
    and stored as nothing; a copy answered from an earlier result costs nothing. `held`: the
    chat has not agreed to the consent text, so the job is stored held, to start once it
    agrees."""
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
        held=held,
    )
    if job is None:
        return None
    log.info(
        "job %s: received (%s, %s bytes, %ss%s)%s",
        job.id,
        audio.kind,
        audio.size,
        audio.duration,
        f", answered from job {source}" if source else "",
        "; held until the chat agrees to the consent text" if held else "",
    )
    return job


@dataclass(frozen=True)
class Derived:
    """The job that answers a request made from a result's buttons; `new` when the caller
    must announce and release it (made now, or made by a handling cut short by a crash)."""

    job: Job
    new: bool


def derivation_key(root_job_id: int, options: dict[str, object]) -> str:
    """What makes a request from a result unique: the recording's first job and the options
    asked for (however the outputs were reached, the same options are the same request)."""
    digest = hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:32]
    return f"{root_job_id}:{digest}"


async def find_derived_job(source: Job, options: TranscriptionOptions) -> Derived | None:
    """The job already made for this request, if one is standing (a failed one is not: the
    request may be made again)."""
    key = derivation_key(source.derived_from or source.id, options.model_dump(mode="json"))
    existing = await job_store.find_derived(key)
    if existing is None:
        return None
    if existing.state == JobState.FAILED:
        await job_store.retire_derivation(existing)
        return None
    return Derived(existing, _awaiting_release(existing))


async def create_derived_job(
    source: Job,
    options: TranscriptionOptions,
    *,
    language: str,
    reuse: bool,
    daily_minutes: float | None = None,
    held: bool = False,
) -> Derived | OverAllowance:
    """A new job for the recording of `source` with these options, answered like any job in
    the same thread; exactly one per request, however often its button is pressed. It is a new
    upload to Intron, so it counts against the chat's allowance as the recording did (unless
    a stored result answers it). `held` as for `create_job`."""
    found = await find_derived_job(source, options)
    if found is not None:
        return found
    root = source.derived_from or source.id
    stored_options = options.model_dump(mode="json")
    reused = await reusable_source(source.file_unique_id, stored_options) if reuse else None
    if reused is None:
        refused = await admits(source.chat_id, source.duration, daily_minutes)
        if refused is not None:
            log.info("chat's daily audio allowance reached; output from job %s refused", source.id)
            return refused
    key = derivation_key(root, stored_options)
    job = await job_store.create_derived(
        derivation_key=key,
        derived_from=root,
        chat_id=source.chat_id,
        message_id=source.message_id,
        chat_type=source.chat_type,
        message_thread_id=source.message_thread_id,
        media_kind=source.media_kind,
        telegram_file_id=source.telegram_file_id,
        file_unique_id=source.file_unique_id,
        source_url=source.source_url,
        file_name=source.file_name,
        mime_type=source.mime_type,
        file_size=source.file_size,
        duration=source.duration,
        options=stored_options,
        reused_from=reused,
        language=language,
        next_run_at=time.time() + STATUS_GRACE_SECONDS,
        held=held,
    )
    if job is None:  # the same request, made at this very moment by another press
        made = await job_store.find_derived(key)
        assert made is not None
        return Derived(made, False)
    log.info("job %s: asked for from job %s's result", job.id, source.id)
    return Derived(job, True)


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

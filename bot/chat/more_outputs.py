"""Asking for one more output from a delivered result: the same recording (its Telegram file
id, or its link) transcribed again as a new job with that output added, answered in the same
thread and counted in /usage like any job. A request is made once, however often its button is
pressed (intake's derivation key), and not at all once Telegram no longer serves the file."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum

from bot.chat.preferences import load_preferences
from bot.chat.result_menu import options_of, with_output
from bot.engine.allowance import OverAllowance
from bot.engine.intake import create_derived_job, find_derived_job
from bot.telegram_io.audio_input import LINK
from storage.models import ACTIVE_STATES, Job, JobState

# Whether Telegram still hands the bot a file, by its file id (False only when Telegram said
# it does not; a failure to ask says nothing, and the job then finds out).
StillServed = Callable[[str], Awaitable[bool]]


class Asked(Enum):
    NEW = "a new job was made"
    ON_ITS_WAY = "a job for it is in progress"
    SENT = "a job for it delivered its result"
    FILE_GONE = "Telegram no longer serves the recording"
    UNAVAILABLE = "the result cannot give that (any more)"
    OVER_ALLOWANCE = "the chat has not enough audio minutes left today"


@dataclass(frozen=True)
class OutputRequest:
    asked: Asked
    job: Job | None = None  # the job answering the request
    quiet: bool = False  # the chat wants no "Received" for it
    refused: OverAllowance | None = None  # why, when the allowance is what is missing


def holds_result(job: Job) -> bool:
    """A result that can still be built on: its text and the recording's file id or link kept
    (/forget and retention erase them), and no longer being sent."""
    return (
        job.result is not None
        and job.purged_at is None
        and job.state not in ACTIVE_STATES
        and bool(job.telegram_file_id or job.source_url)
    )


async def ask_for_output(
    source: Job,
    category: str,
    flag: str,
    *,
    chat_id: int,
    language: str,
    still_served: StillServed,
    daily_minutes: float | None = None,
    held: bool = False,
) -> OutputRequest:
    """Make (or find) the job for `source`'s recording with `flag` of `category` added. The
    job is answered in `language`, the language of whoever pressed; `daily_minutes` is the
    configured allowance, which a new job counts against; `held`: the chat has not agreed to
    the consent text as it stands, so the new job waits for it like a recording."""
    options = options_of(source)
    wanted = with_output(options, category, flag) if options is not None else None
    if wanted is None or not holds_result(source):
        return OutputRequest(Asked.UNAVAILABLE)
    prefs = await load_preferences(chat_id)
    found = await find_derived_job(source, wanted)
    if found is None and source.media_kind != LINK:
        if not await still_served(source.telegram_file_id):
            return OutputRequest(Asked.FILE_GONE)
    if found is None:
        made = await create_derived_job(
            source,
            wanted,
            language=language,
            reuse=prefs.reuse_results,
            daily_minutes=daily_minutes,
            held=held,
        )
        if isinstance(made, OverAllowance):
            return OutputRequest(Asked.OVER_ALLOWANCE, refused=made)
        found = made
    if found.new:
        return OutputRequest(Asked.NEW, found.job, quiet=prefs.quiet)
    if found.job.state == JobState.DELIVERED:
        return OutputRequest(Asked.SENT, found.job)
    return OutputRequest(Asked.ON_ITS_WAY, found.job)

"""Per-chat choices: what each voice note in a chat is sent to Intron with, and the language
the bot writes to the chat in."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydantic import ValidationError

from bot.i18n import BOT_LANGUAGES
from bot.intron.options import ROLE_PAIRS, TranscriptionOptions
from storage.models import ChatSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChatPreferences:
    options: TranscriptionOptions
    on_request: bool = False  # groups: only transcribe when asked with /transcribe
    # A copy of a recording transcribed before with the same options gets that result at once.
    reuse_results: bool = True
    # The bot language chosen in /settings; None follows each user's Telegram language.
    bot_language: str | None = None
    # Only results and failures: no "Received" or progress messages.
    quiet: bool = False
    # The role pair (a key of ROLE_PAIRS) every diarized result is shown with; None: numbers.
    speaker_roles: str | None = None

    @classmethod
    def default(cls) -> ChatPreferences:
        return cls(TranscriptionOptions())


async def load_preferences(chat_id: int) -> ChatPreferences:
    row = await ChatSettings.get_or_none(chat_id=chat_id)
    if row is None:
        return ChatPreferences.default()
    try:
        options = TranscriptionOptions.model_validate(row.options)
    except ValidationError:
        # Stored by an older version whose catalog differed: fall back rather than fail jobs.
        log.warning("chat settings of one chat no longer valid; using defaults")
        options = TranscriptionOptions()
    bot_language = row.bot_language if row.bot_language in BOT_LANGUAGES else None
    roles = row.speaker_roles if row.speaker_roles in ROLE_PAIRS else None
    return ChatPreferences(
        options, row.on_request, row.reuse_results, bot_language, row.quiet, roles
    )


async def save_preferences(
    chat_id: int, preferences: ChatPreferences, *, changed_by_update: int | None = None
) -> None:
    """One statement, so the change and the update that made it are saved together."""
    await ChatSettings.update_or_create(
        defaults={
            "options": preferences.options.model_dump(mode="json"),
            "on_request": preferences.on_request,
            "bot_language": preferences.bot_language,
            "reuse_results": preferences.reuse_results,
            "quiet": preferences.quiet,
            "speaker_roles": preferences.speaker_roles,
            "changed_by_update": changed_by_update,
        },
        chat_id=chat_id,
    )


async def changed_by(chat_id: int, update_id: int) -> bool:
    """Whether this Telegram update is the one that last changed the chat's settings."""
    return await ChatSettings.exists(chat_id=chat_id, changed_by_update=update_id)

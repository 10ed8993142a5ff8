"""What the engine needs from Telegram I/O, as small Protocols: the stages depend on these
shapes, not on the classes that talk to Telegram, so a test can hand in its own."""

from __future__ import annotations

from typing import Any, Protocol

from telegram import InlineKeyboardMarkup

from bot.i18n import Translator
from bot.render import OutgoingText, ReportDocument
from bot.telegram_io.files import LocalAudio
from storage.models import Job


class AudioSource(Protocol):
    """Downloads a recording Telegram holds (raises AudioUnavailable or DownloadFailed)."""

    async def fetch(self, file_id: str, *, max_bytes: int) -> LocalAudio: ...


class ChatReplies(Protocol):
    """Sends a job's messages to its chat."""

    async def send_part(
        self,
        chat_id: int,
        part: OutgoingText | ReportDocument,
        *,
        reply_to_id: int | None = None,
        thread_id: int | None = None,
        markup: InlineKeyboardMarkup | None = None,
    ) -> int: ...

    async def edit_status(self, chat_id: int, message_id: int | None, text: str) -> None: ...

    async def notice(
        self,
        chat_id: int,
        text: str,
        markup: InlineKeyboardMarkup,
        *,
        status_message_id: int | None,
        reply_to_id: int | None = None,
        thread_id: int | None = None,
    ) -> None: ...

    async def delete(self, chat_id: int, message_id: int | None) -> None: ...

    async def typing(self, chat_id: int) -> None: ...

    async def answering(self, chat_id: int) -> bool: ...


class ResultExtras(Protocol):
    """What the chat adds to a result when it is rendered, decided above the engine (by the
    chat's settings): who its speakers are, and the buttons offering more from it, on the
    note's last part."""

    async def speakers(self, job: Job) -> dict[str, Any] | None: ...

    async def keyboard(self, job: Job, tr: Translator) -> InlineKeyboardMarkup | None: ...

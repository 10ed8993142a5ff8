"""Sending to a chat: threaded replies that survive a deleted original, best-effort status edits."""

from __future__ import annotations

import contextlib
import logging

from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions, ReplyParameters
from telegram.constants import ChatAction
from telegram.error import BadRequest, TelegramError

from bot.render import OutgoingText, ReportDocument

log = logging.getLogger(__name__)

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def reply_to(message_id: int | None) -> ReplyParameters | None:
    """Thread to the user's message; if they deleted it meanwhile, send anyway, unthreaded."""
    if message_id is None:
        return None
    return ReplyParameters(message_id=message_id, allow_sending_without_reply=True)


class ChatReplier:
    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def send(
        self,
        chat_id: int,
        message: OutgoingText,
        *,
        reply_to_id: int | None = None,
        markup: InlineKeyboardMarkup | None = None,
    ) -> int:
        try:
            sent = await self._bot.send_message(
                chat_id,
                message.text,
                entities=list(message.entities) or None,
                reply_parameters=reply_to(reply_to_id),
                link_preview_options=NO_PREVIEW,
                reply_markup=markup,
            )
        except BadRequest as exc:
            if not message.entities or "entit" not in exc.message.lower():
                raise
            # Formatting must never cost the user their text: send it plain.
            log.warning("formatting refused by Telegram (%s); sending plain text", exc.message)
            sent = await self._bot.send_message(
                chat_id,
                message.text,
                reply_parameters=reply_to(reply_to_id),
                link_preview_options=NO_PREVIEW,
                reply_markup=markup,
            )
        return sent.message_id

    async def send_document(
        self, chat_id: int, document: ReportDocument, *, reply_to_id: int | None = None
    ) -> int:
        sent = await self._bot.send_document(
            chat_id,
            document=document.content,
            filename=document.filename,
            caption="Full report",
            reply_parameters=reply_to(reply_to_id),
        )
        return sent.message_id

    async def edit_status(self, chat_id: int, message_id: int | None, text: str) -> None:
        """Progress is a courtesy: a failed edit must never hold up the job."""
        if message_id is None:
            return
        try:
            await self._bot.edit_message_text(text, chat_id=chat_id, message_id=message_id)
        except TelegramError as exc:
            log.debug("status edit skipped: %s", type(exc).__name__)

    async def delete(self, chat_id: int, message_id: int | None) -> None:
        if message_id is None:
            return
        with contextlib.suppress(TelegramError):
            await self._bot.delete_message(chat_id, message_id)

    async def typing(self, chat_id: int) -> None:
        with contextlib.suppress(TelegramError):
            await self._bot.send_chat_action(chat_id, ChatAction.TYPING)

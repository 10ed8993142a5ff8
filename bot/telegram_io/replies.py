"""Sending to a chat: threaded replies that survive a deleted original or topic, status edits,
and telling a request Telegram never got from one whose answer was lost."""

from __future__ import annotations

import contextlib
import logging

import httpx
from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions, ReplyParameters
from telegram.constants import ChatAction
from telegram.error import BadRequest, NetworkError, TelegramError

from bot.render import OutgoingText, ReportDocument
from bot.telegram_io.errors import Refusal, is_refusal

log = logging.getLogger(__name__)

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
# Telegram's words when a forum topic was deleted or closed since the recording was sent.
# Failures that happen before a request is on its way: Telegram cannot have acted on it.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.WriteError)


def reply_to(message_id: int | None) -> ReplyParameters | None:
    """Thread to the user's message; if they deleted it meanwhile, send anyway, unthreaded."""
    if message_id is None:
        return None
    return ReplyParameters(message_id=message_id, allow_sending_without_reply=True)


def may_have_arrived(exc: NetworkError) -> bool:
    """Whether Telegram may have acted on a request that failed with `exc`.

    An error answer (5xx, 4xx) means it did not; a connection that never carried the request
    means it did not; a request sent whose answer never came (read timeout, connection lost
    while waiting) may well have been carried out."""
    if isinstance(exc, BadRequest):
        return False
    cause = exc.__cause__
    if cause is None:
        return False  # Telegram answered with an HTTP error status
    return not isinstance(cause, _NEVER_SENT)


class ChatReplier:
    def __init__(self, bot: Bot, *, timeout: float | None = None) -> None:
        self._bot = bot
        # How long a send waits for Telegram's answer: the longer, the rarer the case where
        # the message may have arrived but the bot cannot know.
        self._timeouts = {"read_timeout": timeout} if timeout else {}

    async def send(
        self,
        chat_id: int,
        message: OutgoingText,
        *,
        reply_to_id: int | None = None,
        thread_id: int | None = None,
        markup: InlineKeyboardMarkup | None = None,
    ) -> int:
        try:
            return await self._send_text(chat_id, message, reply_to_id, thread_id, markup)
        except BadRequest as exc:
            if thread_id is None or not is_refusal(exc, Refusal.TOPIC_GONE):
                raise
            # The topic is gone: the answer still belongs in the chat.
            log.info("topic no longer open (%s); sending to the chat's main thread", exc.message)
            return await self._send_text(chat_id, message, reply_to_id, None, markup)

    async def send_document(
        self,
        chat_id: int,
        document: ReportDocument,
        *,
        reply_to_id: int | None = None,
        thread_id: int | None = None,
        markup: InlineKeyboardMarkup | None = None,
    ) -> int:
        try:
            return await self._send_file(chat_id, document, reply_to_id, thread_id, markup)
        except BadRequest as exc:
            if thread_id is None or not is_refusal(exc, Refusal.TOPIC_GONE):
                raise
            return await self._send_file(chat_id, document, reply_to_id, None, markup)

    async def send_part(
        self,
        chat_id: int,
        part: OutgoingText | ReportDocument,
        *,
        reply_to_id: int | None = None,
        thread_id: int | None = None,
        markup: InlineKeyboardMarkup | None = None,
    ) -> int:
        """A part of a result; `markup` is the keyboard of its last part, which is dropped
        rather than cost the chat its result if Telegram refuses it."""
        if isinstance(part, ReportDocument):
            return await self.send_document(
                chat_id, part, reply_to_id=reply_to_id, thread_id=thread_id, markup=markup
            )
        return await self.send(
            chat_id, part, reply_to_id=reply_to_id, thread_id=thread_id, markup=markup
        )

    async def answering(self, chat_id: int) -> bool:
        """Whether Telegram answers at all right now (a "typing…" hint, nothing stored)."""
        try:
            await self._bot.send_chat_action(chat_id, ChatAction.TYPING, **self._timeouts)
        except NetworkError as exc:
            return isinstance(exc, BadRequest)
        except TelegramError:
            return True  # refused, but answered
        return True

    async def edit_status(self, chat_id: int, message_id: int | None, text: str) -> None:
        """Progress is a courtesy: a failed edit must never hold up the job."""
        if message_id is None:
            return
        try:
            await self._bot.edit_message_text(text, chat_id=chat_id, message_id=message_id)
        except TelegramError as exc:
            log.debug("status edit skipped: %s", type(exc).__name__)

    async def notice(
        self,
        chat_id: int,
        text: str,
        markup: InlineKeyboardMarkup,
        *,
        status_message_id: int | None,
        reply_to_id: int | None = None,
        thread_id: int | None = None,
    ) -> None:
        """Say something about a job where its progress was shown (the status message turns
        into the notice), or in a message of its own if there is none or it cannot be edited.
        A courtesy too: Telegram refusing both must not hold up the job."""
        if status_message_id is not None:
            try:
                await self._bot.edit_message_text(
                    text, chat_id=chat_id, message_id=status_message_id, reply_markup=markup
                )
                return
            except TelegramError as exc:
                log.info("status message not editable (%s); sending the notice", exc)
        try:
            await self.send(
                chat_id,
                OutgoingText(text, ()),
                reply_to_id=reply_to_id,
                thread_id=thread_id,
                markup=markup,
            )
        except TelegramError as exc:
            log.warning("notice not sent: %s", type(exc).__name__)

    async def delete(self, chat_id: int, message_id: int | None) -> None:
        if message_id is None:
            return
        with contextlib.suppress(TelegramError):
            await self._bot.delete_message(chat_id, message_id)

    async def typing(self, chat_id: int) -> None:
        with contextlib.suppress(TelegramError):
            await self._bot.send_chat_action(chat_id, ChatAction.TYPING)

    async def _send_text(
        self,
        chat_id: int,
        message: OutgoingText,
        reply_to_id: int | None,
        thread_id: int | None,
        markup: InlineKeyboardMarkup | None,
    ) -> int:
        try:
            return await self._send_formatted(chat_id, message, reply_to_id, thread_id, markup)
        except BadRequest as exc:
            if markup is None or not is_refusal(exc, Refusal.BAD_KEYBOARD):
                raise
            # A button must never cost the user their text: send it without the keyboard.
            log.warning("message refused with its keyboard (%s); sending it without", exc.message)
            return await self._send_formatted(chat_id, message, reply_to_id, thread_id, None)

    async def _send_formatted(
        self,
        chat_id: int,
        message: OutgoingText,
        reply_to_id: int | None,
        thread_id: int | None,
        markup: InlineKeyboardMarkup | None,
    ) -> int:
        try:
            sent = await self._bot.send_message(
                chat_id,
                message.text,
                entities=list(message.entities) or None,
                reply_parameters=reply_to(reply_to_id),
                message_thread_id=thread_id,
                link_preview_options=NO_PREVIEW,
                reply_markup=markup,
                **self._timeouts,
            )
        except BadRequest as exc:
            if not message.entities or not is_refusal(exc, Refusal.BAD_FORMATTING):
                raise
            # Formatting must never cost the user their text: send it plain.
            log.warning("formatting refused by Telegram (%s); sending plain text", exc.message)
            sent = await self._bot.send_message(
                chat_id,
                message.text,
                reply_parameters=reply_to(reply_to_id),
                message_thread_id=thread_id,
                link_preview_options=NO_PREVIEW,
                reply_markup=markup,
                **self._timeouts,
            )
        return sent.message_id

    async def _send_file(
        self,
        chat_id: int,
        document: ReportDocument,
        reply_to_id: int | None,
        thread_id: int | None,
        markup: InlineKeyboardMarkup | None,
    ) -> int:
        try:
            sent = await self._bot.send_document(
                chat_id,
                document=document.content,
                filename=document.filename,
                caption=document.caption,
                reply_parameters=reply_to(reply_to_id),
                message_thread_id=thread_id,
                reply_markup=markup,
                **self._timeouts,
            )
        except BadRequest as exc:
            if markup is None or not is_refusal(exc, Refusal.BAD_KEYBOARD):
                raise
            log.warning("report refused with its keyboard (%s); sending it without", exc.message)
            return await self._send_file(chat_id, document, reply_to_id, thread_id, None)
        return sent.message_id

"""The last stop for an error in a handler: one log line, a short answer, and the bot goes on."""

from __future__ import annotations

import logging
import traceback

from telegram import Update
from telegram.error import TelegramError

from bot.chat.preferences import ChatPreferences, load_preferences
from bot.i18n import N_
from bot.telegram_io.audio_input import audio_in
from bot.telegram_io.errors import Refusal, is_refusal
from handlers.common import Context, answer, services, translator_for

log = logging.getLogger(__name__)

SORRY = N_("⚠️ Sorry, something went wrong with that. Please try again in a moment.")
SORRY_BUTTON = N_("⚠️ Something went wrong. Please try again.")


async def on_error(update: object, context: Context) -> None:
    """Logs the update id, the chat id and the error's type, never any text (a message, or an
    error quoting one, can be a patient's words); answers whoever is waiting for an answer."""
    error = context.error
    if error is None:
        return
    kind = type(error).__name__
    update_id = update.update_id if isinstance(update, Update) else None
    chat = update.effective_chat if isinstance(update, Update) else None
    chat_id = chat.id if chat is not None else None
    if is_refusal(error, Refusal.QUERY_EXPIRED):
        log.info("update %s in chat %s: button pressed too long ago", update_id, chat_id)
        return
    if isinstance(error, TelegramError):
        log.warning("update %s in chat %s failed: %s", update_id, chat_id, kind)
    elif services(context).outages.database.outage(error, "handlers"):
        # The database away: in its outage log, which says so once, not a traceback an update.
        log.debug("update %s in chat %s failed: %s", update_id, chat_id, kind)
    else:
        # Where it failed, for the operator: the frames, without the error's message.
        frames = "".join(traceback.format_tb(error.__traceback__))
        log.error("update %s in chat %s failed: %s\n%s", update_id, chat_id, kind, frames)
    if isinstance(update, Update):
        await _tell_user(update, context)


async def _preferences(update: Update) -> ChatPreferences:
    """The chat's choices, for the language of the apology; the error may be the database's."""
    chat = update.effective_chat
    if chat is None:
        return ChatPreferences.default()
    try:
        return await load_preferences(chat.id)
    except Exception as exc:
        log.info(
            "update %s: no chat settings for the apology: %s", update.update_id, type(exc).__name__
        )
        return ChatPreferences.default()


async def _tell_user(update: Update, context: Context) -> None:
    tr = translator_for(update, context, await _preferences(update))
    try:
        if update.callback_query is not None:
            await answer(update.callback_query, tr.gettext(SORRY_BUTTON))
            return
        message = update.message
        if message is not None and _expects_reply(update):
            await message.reply_text(tr.gettext(SORRY), do_quote=True)
    except TelegramError as exc:
        log.info("update %s: the apology failed too: %s", update.update_id, type(exc).__name__)


def _expects_reply(update: Update) -> bool:
    """Anything in a private chat; in groups, where people talk to each other, a command or
    a recording."""
    message = update.message
    if message is None:
        return False
    if message.chat.type == "private":
        return True
    return bool(message.text and message.text.startswith("/")) or audio_in(message) is not None

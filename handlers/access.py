"""Only the chats an operator allowed may use the bot: medical audio is sensitive."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ApplicationHandlerStop

from handlers.common import Context, is_group, services

log = logging.getLogger(__name__)


async def enforce_allowed_chats(update: Update, context: Context) -> None:
    """Runs before every other handler; stops the update here if the chat is not allowed."""
    allowed = services(context).config.allowed_chat_ids
    chat = update.effective_chat
    if allowed is None or chat is None or chat.id in allowed:
        return
    log.info("refused an update from a chat that is not allowed")
    text = (
        "This bot is limited to approved chats. To get access, give the bot's operator this "
        f"chat id: {chat.id}"
    )
    # In a group every member's message would trigger the refusal: say it once per run there.
    told: set[int] = context.bot_data.setdefault("refused_groups", set())
    first_time = chat.id not in told
    if is_group(chat):
        told.add(chat.id)  # before any await: updates of one group are handled concurrently
    if update.callback_query is not None:
        await update.callback_query.answer(text, show_alert=True)
    elif update.effective_message is not None and (first_time or not is_group(chat)):
        await update.effective_message.reply_text(text)
    raise ApplicationHandlerStop

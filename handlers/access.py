"""Only the chats an operator allowed may use the bot: medical audio is sensitive. A group
allowed under its old id stays allowed after Telegram upgrades it to a supergroup."""

from __future__ import annotations

import logging

from telegram import Chat, Update
from telegram.ext import ApplicationHandlerStop

from bot.i18n import choose_language
from bot.telegram_io.migration import is_allowed
from handlers.common import Context, answer, is_group, services, telegram_language

log = logging.getLogger(__name__)


async def enforce_allowed_chats(update: Update, context: Context) -> None:
    """Runs before every other handler; stops the update here if the chat is not allowed.

    An operator's (ADMIN_USER_IDS) private chat with the bot is always allowed, so /status and
    /usage reach them whatever ALLOWED_CHAT_IDS says."""
    config = services(context).config
    allowed, chat, user = config.allowed_chat_ids, update.effective_chat, update.effective_user
    if allowed is None or chat is None:
        return
    if chat.type == Chat.PRIVATE and user is not None and user.id in config.admin_user_ids:
        return
    if await is_allowed(chat.id, allowed):
        return
    message = update.effective_message
    if message is not None and message.migrate_from_chat_id is not None:
        if await is_allowed(message.migrate_from_chat_id, allowed):
            return  # an allowed group's upgrade, arriving before the old group's notice
    log.info("refused an update from a chat that is not allowed")
    # A chat that is not allowed has no settings: the asker's Telegram language decides.
    tr = services(context).locales.translator(choose_language(None, telegram_language(update)))
    text = tr.gettext(
        "This bot is limited to approved chats. To get access, give the bot's operator this "
        "chat id: {chat_id}",
        chat_id=chat.id,
    )
    # In a group every member's message would trigger the refusal: say it once per run there.
    told: set[int] = context.bot_data.setdefault("refused_groups", set())
    if update.callback_query is not None:
        await answer(update.callback_query, text, alert=True)
    elif update.effective_message is not None and chat.id not in told:
        await update.effective_message.reply_text(text)
        if is_group(chat):
            # A chat's updates are handled one at a time, in order (the inbox): no other update
            # of this group is between the check above and this line.
            told.add(chat.id)
    raise ApplicationHandlerStop

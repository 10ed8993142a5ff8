"""A group upgraded to a supergroup: its settings, jobs and standing follow the new chat id."""

from __future__ import annotations

from telegram import Update

from bot.telegram_io.migration import record_migration
from handlers.common import Context


async def on_chat_migrated(update: Update, context: Context) -> None:
    """Telegram tells both chats: the old group (`migrate_to_chat_id`) and the new supergroup
    (`migrate_from_chat_id`); either one, whichever comes first, records the upgrade."""
    message = update.effective_message
    if message is None:
        return
    if message.migrate_to_chat_id is not None:
        await record_migration(message.chat_id, message.migrate_to_chat_id)
    elif message.migrate_from_chat_id is not None:
        await record_migration(message.migrate_from_chat_id, message.chat_id)

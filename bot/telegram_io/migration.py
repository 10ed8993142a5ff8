"""Groups upgraded to supergroups: Telegram gives the chat a new id, and the chat's settings,
recordings and allow-list standing go with it.

Jobs keep the id of the chat their recording was sent in (Telegram numbers the supergroup's
messages afresh, so (chat, message) stays what makes a recording's job unique); answers,
/history, /usage and /forget reach them through the migration recorded here.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from tortoise.transactions import in_transaction

from storage.models import ChatMigration, ChatSettings

log = logging.getLogger(__name__)

# Telegram upgrades a group once; the bound only guards against a corrupt cycle.
_MAX_HOPS = 8


async def record_migration(old_chat_id: int, new_chat_id: int) -> bool:
    """Remember that `old_chat_id` is now `new_chat_id`, and move its settings there.
    Safe to call again (both service messages and a refused send report the same upgrade);
    True the first time."""
    if old_chat_id == new_chat_id:
        return False
    async with in_transaction():
        _, created = await ChatMigration.get_or_create(
            old_chat_id=old_chat_id, defaults={"new_chat_id": new_chat_id}
        )
        settings = await ChatSettings.get_or_none(chat_id=old_chat_id)
        if settings is not None:
            # Choices made in the new chat since the upgrade win over the old group's.
            if not await ChatSettings.exists(chat_id=new_chat_id):
                await ChatSettings.create(
                    chat_id=new_chat_id,
                    options=settings.options,
                    on_request=settings.on_request,
                    bot_language=settings.bot_language,
                    reuse_results=settings.reuse_results,
                )
            await settings.delete()
    if created:
        log.info("a group was upgraded to a supergroup; its settings and jobs follow it")
    return created


async def current_chat_id(chat_id: int) -> int:
    """Where a message for `chat_id` must go now."""
    for _ in range(_MAX_HOPS):
        moved = await ChatMigration.get_or_none(old_chat_id=chat_id)
        if moved is None:
            break
        chat_id = moved.new_chat_id
    return chat_id


async def chat_family(chat_id: int) -> list[int]:
    """`chat_id` and every earlier id of the same chat."""
    family = [chat_id]
    frontier = [chat_id]
    for _ in range(_MAX_HOPS):
        earlier = await ChatMigration.filter(new_chat_id__in=frontier).values_list(
            "old_chat_id", flat=True
        )
        frontier = [int(c) for c in earlier if c not in family]
        if not frontier:
            break
        family += frontier
    return family


async def is_allowed(chat_id: int, allowed: Collection[int]) -> bool:
    """An allowed group stays allowed under the id Telegram gave it when it was upgraded."""
    if chat_id in allowed:
        return True
    return any(c in allowed for c in await chat_family(chat_id))

"""Polling mode: getUpdates asks for the next offset only once the batch is in the inbox.

python-telegram-bot's Updater awaits `update_queue.put(update)` for every update of a batch
before it confirms the batch with a higher offset (`telegram/ext/_updater.py`). The queue below
stores the update in its `put`, so the confirmation can only follow the storing. The Updater
keeps doing what it does well: long polling, network errors, 409 conflicts and `retry_after`,
deleting a webhook at start without dropping pending updates, and confirming at stop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from telegram import Bot, Update
from telegram.ext import Updater

from bot.telegram_io.dispatcher import Receive

log = logging.getLogger(__name__)

RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0


class InboxQueue(asyncio.Queue[object]):
    """The Updater's queue, made durable: `put` returns only once the update is stored."""

    def __init__(self, receive: Receive) -> None:
        super().__init__()
        self._receive = receive

    async def put(self, item: object) -> None:
        if not isinstance(item, Update):
            raise TypeError(f"only updates go into the inbox, not {type(item).__name__}")
        delay = RETRY_FIRST_SECONDS
        while True:
            try:
                await self._receive(item.to_dict(), item)
                return
            except Exception as exc:
                # Not confirming is the point: until this succeeds, Telegram keeps the update.
                log.warning(
                    "inbox: could not store update %s (%s); retrying in %.1fs",
                    item.update_id,
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)


async def start_polling(
    bot: Bot, receive: Receive, *, poll_seconds: float, allowed_updates: Sequence[str]
) -> Updater:
    """Poll until `Updater.stop()`. The bot belongs to the application, which shuts it down:
    the Updater is never shut down on its own."""
    updater = Updater(bot=bot, update_queue=InboxQueue(receive))
    await updater.initialize()
    # Voice notes that arrived while the bot was down are patients' words: keep them.
    await updater.start_polling(
        timeout=poll_seconds, drop_pending_updates=False, allowed_updates=allowed_updates
    )
    return updater

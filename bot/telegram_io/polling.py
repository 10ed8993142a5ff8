"""Polling mode: getUpdates asks for the next offset only once the batch is in the inbox.

python-telegram-bot's Updater calls `bot.get_updates`, hands each update of the answer to its
queue, and only then asks with a higher offset, which tells Telegram to forget the batch
(`telegram/ext/_updater.py`). Here the Updater's bot stores every answer in the inbox, in one
write, before returning it; its queue then only tells the dispatcher. So the confirmation can
only follow the storing. The Updater keeps doing what it does well: long polling, network
errors, 409 conflicts and `retry_after`, deleting a webhook at start without dropping pending
updates, and confirming at stop. getUpdates is the one call that bypasses the rate limiter, so
its errors are counted for the metrics here, before the Updater deals with them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from telegram import Bot, Update
from telegram.error import TelegramError
from telegram.ext import Updater

from bot.ops.metrics import BotMetrics
from bot.telegram_io.dispatcher import InboxDispatcher

log = logging.getLogger(__name__)

RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0


class StoringBot:
    """The application's bot as the Updater sees it: every getUpdates answer is in the inbox
    before the Updater gets it. Everything else goes to the application's bot, which the
    application starts and shuts down (so this one's initialize and shutdown do nothing)."""

    def __init__(self, bot: Bot, dispatcher: InboxDispatcher, metrics: BotMetrics) -> None:
        self._bot = bot
        self._dispatcher = dispatcher
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bot, name)

    async def initialize(self) -> None:
        """Started by the application."""

    async def shutdown(self) -> None:
        """Shut down by the application."""

    async def get_updates(self, *args: Any, **kwargs: Any) -> tuple[Update, ...]:
        try:
            updates = await self._bot.get_updates(*args, **kwargs)
        except TelegramError as exc:
            self._metrics.telegram_error("getUpdates", exc)
            raise
        if updates:
            await self._store(updates)
        return updates

    async def _store(self, updates: Sequence[Update]) -> None:
        """Keep trying: until this returns, the Updater sends no offset past these updates."""
        batch = [(update.to_dict(), update) for update in updates]
        delay = RETRY_FIRST_SECONDS
        while True:
            try:
                await self._dispatcher.store(batch)
                return
            except Exception as exc:
                log.warning(
                    "inbox: could not store %d updates (%s); retrying in %.1fs",
                    len(batch),
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)


class NotifyingQueue(asyncio.Queue[object]):
    """The Updater's queue: the updates it hands on are stored already, so `put` only queues
    their chats at the dispatcher."""

    def __init__(self, notify: Callable[[Update], None]) -> None:
        super().__init__()
        self._notify = notify

    async def put(self, item: object) -> None:
        if not isinstance(item, Update):
            raise TypeError(f"only updates go into the inbox, not {type(item).__name__}")
        self._notify(item)


async def start_polling(
    bot: Bot,
    dispatcher: InboxDispatcher,
    *,
    metrics: BotMetrics,
    poll_seconds: float,
    allowed_updates: Sequence[str],
) -> Updater:
    """Poll until `Updater.stop()`."""
    updater = Updater(
        bot=StoringBot(bot, dispatcher, metrics),  # type: ignore[arg-type]  # a Bot in all the Updater uses
        update_queue=NotifyingQueue(dispatcher.notify),
    )
    await updater.initialize()
    # Voice notes that arrived while the bot was down are patients' words: keep them.
    await updater.start_polling(
        timeout=poll_seconds, drop_pending_updates=False, allowed_updates=allowed_updates
    )
    return updater

"""Polling mode: getUpdates asks for the next offset only once the batch is in the inbox.

python-telegram-bot's Updater calls `bot.get_updates`, hands each update of the answer to its
queue, and only then asks with a higher offset, which tells Telegram to forget the batch
(`telegram/ext/_updater.py`). Here the Updater's bot stores every answer in the inbox, in one
write, before returning it; its queue then only tells the dispatcher. So the confirmation can
only follow the storing. The Updater keeps doing what it does well: long polling, network
errors, 409 conflicts and `retry_after`, deleting a webhook at start without dropping pending
updates, and confirming at stop. getUpdates is the one call that bypasses the rate limiter, so
its errors are counted for the metrics here, before the Updater deals with them.

Telegram serves getUpdates to one client at a time. With several instances on one PostgreSQL
database, the one holding a session advisory lock polls (`lead_polling`); the others try for it
every couple of seconds. The lock belongs to a database connection, so when its holder dies
(`kill -9` included) the server drops it with the connection and another instance polls within
seconds. Every instance runs jobs and handles the inbox whichever one polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from telegram import Bot, Update
from telegram.error import TelegramError
from telegram.ext import Updater

from bot.metrics import BotMetrics
from bot.outages import Outages, is_telegram_outage, telegram_kind
from bot.telegram_io.dispatcher import InboxDispatcher
from storage.db import libpq_url

POLLING_LOCK = 0x1A7E_0002  # the advisory lock whose holder polls; the same in every instance
# A standby asks for the lock this often: how soon it takes over from a dead poller.
LEAD_RETRY_SECONDS = 2.0
# The poller checks its lock's connection this often, and steps down when it is gone (the
# server may then give the lock to another instance).
LEAD_CHECK_SECONDS = 2.0
LEAD_CHECK_TIMEOUT_SECONDS = 5.0

log = logging.getLogger(__name__)

RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0


class StoringBot:
    """The application's bot as the Updater sees it: every getUpdates answer is in the inbox
    before the Updater gets it. Everything else goes to the application's bot, which the
    application starts and shuts down (so this one's initialize and shutdown do nothing)."""

    def __init__(
        self, bot: Bot, dispatcher: InboxDispatcher, metrics: BotMetrics, outages: Outages
    ) -> None:
        self._bot = bot
        self._dispatcher = dispatcher
        self._metrics = metrics
        self._outages = outages

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
            if not self._outages.telegram.outage(exc, "getUpdates"):
                self._outages.telegram.worked()  # an answer, such as 409 Conflict
            raise
        self._outages.telegram.worked()
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
            except Exception as exc:
                self._outages.database.failed(exc, "polling: storing updates")
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
            else:
                self._outages.database.worked()
                return


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
    outages: Outages,
    poll_seconds: float,
    allowed_updates: Sequence[str],
) -> Updater:
    """Poll until `Updater.stop()`."""
    updater = Updater(
        bot=StoringBot(bot, dispatcher, metrics, outages),  # type: ignore[arg-type]  # a Bot in all the Updater uses
        update_queue=NotifyingQueue(dispatcher.notify),
    )
    await updater.initialize()
    # Voice notes that arrived while the bot was down are patients' words: keep them.
    await updater.start_polling(
        timeout=poll_seconds,
        drop_pending_updates=False,
        allowed_updates=allowed_updates,
        error_callback=_polling_failed,
    )
    return updater


def _polling_failed(error: TelegramError) -> None:
    """The Updater's errors from getUpdates, which it retries. Its own default logs each with a
    traceback; an outage is in Telegram's outage log already (StoringBot), anything else (a
    409: another process polls with this token) is one line."""
    if not is_telegram_outage(error):
        log.warning("polling: getUpdates failed (%s); retrying", telegram_kind(error))


async def lead_polling(
    database_url: str,
    bot: Bot,
    dispatcher: InboxDispatcher,
    *,
    metrics: BotMetrics,
    outages: Outages,
    poll_seconds: float,
    allowed_updates: Sequence[str],
) -> None:
    """Poll while this instance holds the polling lock; wait for it otherwise. Runs until
    cancelled, then stops polling (confirming what was fetched) and lets the lock go."""
    import asyncpg  # the PostgreSQL extra: only PostgreSQL deployments come here

    while True:
        connection: asyncpg.Connection | None = None
        leading = False
        try:
            connection = await asyncpg.connect(libpq_url(database_url))
            outages.database.worked()
            # Waiting for a lock held in another process: nothing here to wait on instead.
            while not await connection.fetchval(  # noqa: ASYNC110
                "SELECT pg_try_advisory_lock($1)", POLLING_LOCK
            ):
                await asyncio.sleep(LEAD_RETRY_SECONDS)
            leading = True
            log.info("polling: this instance polls Telegram now")
            updater = await start_polling(
                bot,
                dispatcher,
                metrics=metrics,
                outages=outages,
                poll_seconds=poll_seconds,
                allowed_updates=allowed_updates,
            )
            try:
                while True:
                    await asyncio.sleep(LEAD_CHECK_SECONDS)
                    async with asyncio.timeout(LEAD_CHECK_TIMEOUT_SECONDS):
                        await connection.fetchval("SELECT 1")
            finally:
                await updater.stop()  # confirms what was fetched: all of it is in the inbox
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if leading:  # once per loss, whatever the reason; an outage is counted besides
                log.warning(
                    "polling: lost the database connection of the polling lock (%s); stepped down",
                    type(exc).__name__,
                )
            outages.database.failed(exc, "polling: the polling lock")
            await asyncio.sleep(LEAD_RETRY_SECONDS)
        finally:
            if connection is not None:
                with contextlib.suppress(Exception):
                    connection.terminate()  # the lock goes with the session

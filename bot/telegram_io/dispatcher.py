"""Updates from the inbox to the handlers: each chat's in order, many chats at once.

A chat is either idle, waiting in the ready queue, or being served by one worker. A worker
takes a chat from the front of the queue, handles that chat's oldest stored update, marks it
handled, and puts the chat at the back of the queue if it may have more. So a chat waiting for
its own previous update holds no worker at all: a group whose replies wait a minute on
Telegram's flood limit ties up one worker, and every other chat is served by the rest.

Order within a chat keeps read-modify-write sequences simple and correct: two quick taps on
settings buttons, or a voice note forwarded twice, are handled one after the other as sent.
With several instances on one database, the inbox's claims keep that order across them; each
instance renews the claims of the updates it is handling and looks every few seconds for chats
nobody holds (stored by another instance, or left by one that died).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from telegram import Update

from bot.outages import Outages
from bot.telegram_io.inbox import CLAIM_SECONDS, StoredUpdate, UpdateInbox
from storage.models import InboxUpdate

log = logging.getLogger(__name__)

# An update whose handling was started this many times (each ended by a crash or a database
# failure) is dropped with an error log, so one poisonous update cannot crash-loop the bot.
MAX_ATTEMPTS = 5
DATABASE_RETRY_SECONDS = 1.0
PURGE_EVERY_SECONDS = 3600.0
PURGE_RETRY_SECONDS = 60.0
RENEW_CLAIMS_SECONDS = CLAIM_SECONDS / 3
LOOK_FOR_FREE_CHATS_SECONDS = 3.0

ChatKey = int | None
Handle = Callable[[dict[str, Any]], Awaitable[None]]
# How a webhook update comes in: its JSON and the parsed update.
Receive = Callable[[dict[str, Any], Update], Awaitable[None]]


class InboxDispatcher:
    def __init__(
        self,
        inbox: UpdateInbox,
        handle: Handle,
        *,
        workers: int,
        keep_handled_seconds: float,
        outages: Outages | None = None,
    ) -> None:
        self._inbox = inbox
        self._database = (outages or Outages()).database
        self._handle = handle
        self._worker_count = workers
        self._keep_handled = keep_handled_seconds
        self._ready: asyncio.Queue[ChatKey] = asyncio.Queue()
        self._active: set[ChatKey] = set()  # chats in the ready queue or being served
        self._renotified: set[ChatKey] = set()  # active chats told of a new update meanwhile
        self._workers: list[asyncio.Task[None]] = []
        self._busy: set[asyncio.Task[None]] = set()
        self._purger: asyncio.Task[None] | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._in_hand: set[int] = set()  # update ids being handled here
        self._stopping = False

    async def receive(self, payload: dict[str, Any], update: Update) -> None:
        """Store one update and queue its chat; returns once the update is in the database, so
        the caller may then tell Telegram it arrived. A duplicate is stored once."""
        await self.store([(payload, update)])
        self.notify(update)

    async def store(self, updates: Sequence[tuple[dict[str, Any], Update]]) -> None:
        """Store a batch of updates (their JSON and the parsed update) in one write."""
        await self._inbox.store(
            [
                StoredUpdate(update.update_id, _chat_of(update), payload)
                for payload, update in updates
            ]
        )

    def notify(self, update: Update) -> None:
        """A stored update waits: queue its chat for a worker unless it is queued already."""
        self._queue_chat(_chat_of(update))

    def _queue_chat(self, chat_id: ChatKey) -> None:
        if chat_id in self._active:
            self._renotified.add(chat_id)
            return
        self._active.add(chat_id)
        self._ready.put_nowait(chat_id)

    async def start(self) -> None:
        """Queue every chat with updates left from before (oldest first), then serve."""
        released = await self._inbox.release_claims()
        pending = await self._inbox.pending_chats()
        for chat_id in pending:
            self._queue_chat(chat_id)
        log.info(
            "inbox: %d chats with unhandled updates (%d claims released)", len(pending), released
        )
        self._workers = [
            asyncio.create_task(self._work(), name=f"inbox-worker-{i}")
            for i in range(self._worker_count)
        ]
        self._purger = asyncio.create_task(self._purge_periodically(), name="inbox-purge")
        self._keeper = asyncio.create_task(self._keep_claims(), name="inbox-claims")

    async def stop(self, grace: float) -> None:
        """Take no new update; give those being handled `grace` seconds, then cancel them.
        Whatever is left stays in the inbox for the next start."""
        self._stopping = True
        busy = set(self._busy)
        idle = [task for task in self._workers if task not in busy]
        idle.extend(task for task in (self._purger, self._keeper) if task is not None)
        for task in idle:
            task.cancel()
        if busy:
            _, late = await asyncio.wait(busy, timeout=grace)
            for task in late:
                task.cancel()
        await asyncio.gather(*self._workers, *idle, return_exceptions=True)
        self._workers = []

    async def _work(self) -> None:
        while not self._stopping:
            chat_id = await self._ready.get()
            task = asyncio.current_task()
            assert task is not None
            self._busy.add(task)
            try:
                await self._serve_next(chat_id)
            finally:
                self._busy.discard(task)

    async def _serve_next(self, chat_id: ChatKey) -> None:
        self._renotified.discard(chat_id)
        try:
            row = await self._inbox.claim_next(chat_id)
        except Exception as exc:
            self._database.failed(exc, "inbox: reading the next update")
            await asyncio.sleep(DATABASE_RETRY_SECONDS)
            self._ready.put_nowait(chat_id)
            return
        self._database.worked()
        if row is None:
            if chat_id in self._renotified:
                self._ready.put_nowait(chat_id)
            else:
                self._active.discard(chat_id)
            return
        self._in_hand.add(row.update_id)
        try:
            if row.attempts > MAX_ATTEMPTS:
                log.error("inbox: update %s dropped after %d attempts", row.update_id, MAX_ATTEMPTS)
            else:
                await self._handle_row(row)
            await self._mark_handled(row.update_id)
        finally:
            self._in_hand.discard(row.update_id)
        self._ready.put_nowait(chat_id)  # its next update waits behind the other ready chats

    async def _handle_row(self, row: InboxUpdate) -> None:
        try:
            await self._handle(row.payload)
        except Exception:
            # Handlers' own errors are dealt with by the application; this is a broken row.
            log.exception("inbox: update %s could not be handled", row.update_id)

    async def _mark_handled(self, update_id: int) -> None:
        """Keep trying: until this succeeds, the update would be handled again at the next start."""
        while True:
            try:
                await self._inbox.mark_handled(update_id)
            except Exception as exc:
                self._database.failed(exc, "inbox: marking an update handled")
                await asyncio.sleep(DATABASE_RETRY_SECONDS)
            else:
                self._database.worked()
                return

    async def _keep_claims(self) -> None:
        """Renew our claims, and queue the chats nobody holds."""
        renewed_at = 0.0
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(LOOK_FOR_FREE_CHATS_SECONDS)
            try:
                if self._in_hand and loop.time() - renewed_at >= RENEW_CLAIMS_SECONDS:
                    await self._inbox.renew_claims(list(self._in_hand))
                    renewed_at = loop.time()
                for chat_id in await self._inbox.free_chats():
                    if chat_id not in self._active:
                        self._queue_chat(chat_id)
            except Exception as exc:
                self._database.failed(exc, "inbox: renewing claims and looking for waiting chats")
            else:
                self._database.worked()

    async def _purge_periodically(self) -> None:
        """Every hour; one that fails (the database away) is tried again a minute later."""
        while True:
            try:
                await self._inbox.purge_handled(self._keep_handled)
            except Exception as exc:
                self._database.failed(exc, "inbox: deleting old handled updates")
                await asyncio.sleep(PURGE_RETRY_SECONDS)
            else:
                self._database.worked()
                await asyncio.sleep(PURGE_EVERY_SECONDS)


def _chat_of(update: Update) -> ChatKey:
    chat = update.effective_chat
    return chat.id if chat is not None else None

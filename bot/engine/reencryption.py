"""Sealing again, in the background, what is not yet under the current key: rows of a database
from before encryption (plaintext) and rows under a key moved to DATA_ENCRYPTION_OLD_KEYS.

One pass over each table, a batch at a time in primary-key order, with a short pause between
batches so the bot's own work comes first. Each value is rewritten with a compare-and-set on
what was read, so jobs in flight and other instances sharing the database lose nothing; a row
another writer changed meanwhile was sealed under the current key by that writer. A stop
waits for the batch under way (a transaction cut off on SQLite would keep the connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bot.engine import job_store
from bot.outages import OutageLog, Outages
from bot.telegram_io.inbox import UpdateInbox
from storage.db import truncate_wal
from storage.encrypted import KeyRing
from storage.key_store import Batch

log = logging.getLogger(__name__)

BATCH_ROWS = 200
PAUSE_SECONDS = 0.05
RETRY_SECONDS = 5.0

Step = Callable[..., Awaitable[Batch]]


class Reencryption:
    def __init__(
        self,
        ring: KeyRing,
        inbox: UpdateInbox,
        *,
        database: OutageLog | None = None,
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        self._ring = ring
        # The process's database outage log: a failed batch is one of its operations.
        self._database = database or Outages().database
        self._steps: list[Step] = [job_store.reseal_stale, inbox.reseal_stale]
        self._batch_rows = batch_rows
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="reencryption")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        rewritten = unopenable = 0
        for step in self._steps:
            after: int | None = None
            while not self._stop.is_set():
                try:
                    batch = await step(self._ring, after=after, limit=self._batch_rows)
                except Exception as error:
                    self._database.failed(error, "re-encryption")
                    await self._pause(RETRY_SECONDS)
                    continue
                self._database.worked()
                if batch.last_key is None:
                    break
                after = batch.last_key
                rewritten += batch.rewritten
                unopenable += batch.unopenable
                await self._pause(PAUSE_SECONDS)
            if self._stop.is_set():
                return
        if rewritten:
            try:  # the plaintext and old-key images leave SQLite's files too
                await truncate_wal()
            except Exception as error:
                self._database.failed(error, "re-encryption")
            log.info(
                "re-encryption: %d stored values sealed again under key %s",
                rewritten,
                self._ring.current_id,
            )
        if unopenable:
            log.error(
                "re-encryption: %d stored values open with no key given; add the key they "
                "were sealed with to DATA_ENCRYPTION_OLD_KEYS",
                unopenable,
            )

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stop.wait()

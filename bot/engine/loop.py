"""The loop shape the scheduler and the poll pacer share: run a step, sleep until it says or
until woken, and keep going through errors without flooding the log (bot/outages.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bot.outages import OutageLog

log = logging.getLogger(__name__)

RETRY_AFTER_ERROR_SECONDS = 1.0


async def run_forever(
    what: str, step: Callable[[], Awaitable[float]], wake: asyncio.Event, database: OutageLog
) -> None:
    """Run `step` again and again; each returns how long to wait before the next (0: at once),
    and a `wake` set meanwhile cuts the wait short. Cancel the task to stop it. A step uses the
    database: its failures go to the database's outage log (a bug's with its traceback)."""
    while True:
        # Cleared before the step, so a wake while it runs makes the next one start at once.
        wake.clear()
        try:
            delay = await step()
            database.worked()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            database.failed(exc, what)
            delay = RETRY_AFTER_ERROR_SECONDS
        if delay <= 0:
            continue
        # Not asyncio.wait_for: on Python 3.11 it swallows a cancellation that arrives as the
        # wait ends, so a stop coming as a job finishes (which wakes this loop) was lost and
        # the process never exited.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await wake.wait()

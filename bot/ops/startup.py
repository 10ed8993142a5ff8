"""Start-up that fails in one line: what could not be reached or was refused, and which setting
to look at; network trouble is retried with backoff for a while first, so a container that
starts before its network does not crash-loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from telegram.error import BadRequest, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application

from bot.config import Config
from bot.engine.pipeline import backoff
from bot.exit_status import EXIT_MISCONFIGURED, EXIT_UNREACHABLE
from bot.telegram_io.errors import retry_after_seconds
from storage.db import close_database, describe_database_error, init_database, redacted_url

log = logging.getLogger(__name__)

# How long a start-up step that was asked to stop may take to unwind.
STOP_GRACE_SECONDS = 3.0


@dataclass(frozen=True)
class Problem:
    line: str  # what the operator reads: what failed, where, and which setting
    transient: bool  # whether the same step may succeed if tried again
    wait: float | None = None  # the server said how long to wait (Telegram's retry_after)


class StartupFailed(Exception):
    """Start-up gave up; `str(self)` is the one line to print."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.line)
        self.exit_status = EXIT_UNREACHABLE if problem.transient else EXIT_MISCONFIGURED


Describe = Callable[[BaseException], Problem | None]


def host_of(url: str) -> str:
    """host[:port] of a URL, without any credentials or path (Bot API paths hold the token)."""
    parts = urlsplit(url)
    host = parts.hostname or url
    return f"{host}:{parts.port}" if parts.port else host


def describe_telegram_error(
    error: BaseException, base_url: str, *, refused: str = "the bot's start-up"
) -> Problem | None:
    """The one line for a Bot API call that failed at start-up; `refused` names what Telegram
    turned down when it answers with any other error (a webhook URL, say)."""
    where = f"{host_of(base_url)} (TELEGRAM_BASE_URL)"
    if isinstance(error, InvalidToken):
        # Bot.initialize re-raises Telegram's answer with the token quoted: use the answer.
        answer = error.__cause__ if isinstance(error.__cause__, InvalidToken) else error
        hint = "copy it again from @BotFather"
        if "not found" in answer.message.lower():
            hint += ", and check TELEGRAM_BASE_URL if you changed it"
        return Problem(
            f"Telegram at {where} rejected TELEGRAM_BOT_TOKEN ({answer.message}): {hint}", False
        )
    if isinstance(error, RetryAfter):
        wait = retry_after_seconds(error)
        return Problem(f"Telegram at {where} asks to wait {wait:g}s (flood limit)", True, wait)
    if isinstance(error, NetworkError) and not isinstance(error, BadRequest):
        reason = error.message.split(": ", 1)[-1] if error.message.startswith("httpx.") else ""
        return Problem(f"Telegram unreachable at {where}: {reason or error.message}", True)
    if isinstance(error, TelegramError):
        return Problem(f"Telegram at {where} refused {refused}: {error.message}", False)
    return None


async def with_retries(
    step: Callable[[], Awaitable[object]],
    describe: Describe,
    *,
    patience: float,
    stop: asyncio.Event,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    """Run `step`; retry transient failures with backoff until `patience` seconds have gone.

    True once `step` succeeded. Raises StartupFailed with the one line once giving up (at once
    for a permanent problem); an error `describe` does not know keeps its traceback. False if
    `stop` was set first, also in the middle of an attempt (which is cancelled then): the
    operator asked the bot to stop before it ever started.
    """
    deadline = clock() + patience
    attempt = 0
    while True:
        if stop.is_set():
            return False
        attempt += 1
        try:
            if not await until_stopped(step(), stop):
                return False
            return True
        except Exception as error:
            problem = describe(error)
            if problem is None:
                raise
            left = deadline - clock()
            if not problem.transient or left <= 0:
                raise StartupFailed(problem) from None
            wait = min(left, problem.wait if problem.wait is not None else backoff(attempt))
            log.warning("%s; trying again in %.1fs", problem.line, wait)
        # Not asyncio.wait_for: on Python 3.11 it can swallow a cancellation arriving as the
        # wait ends.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await stop.wait()
        if stop.is_set():
            return False


async def until_stopped(operation: Awaitable[object], stop: asyncio.Event) -> bool:
    """Await `operation`; True once it finished (its exception, if any, is raised). False if
    `stop` was set first: the operation is then cancelled and given at most
    STOP_GRACE_SECONDS to unwind, so a stop request never waits on a database or a server
    that does not answer."""
    task = asyncio.ensure_future(operation)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # our caller was cancelled: the operation goes with it
        task.cancel()
        raise
    finally:
        stopped.cancel()
    if task.done():
        task.result()
        return True
    task.cancel()
    await asyncio.wait({task}, timeout=STOP_GRACE_SECONDS)
    if task.done() and not task.cancelled():
        task.exception()  # retrieved: an error while unwinding does not matter any more
    return False


class DatabaseTimeout(Exception):
    """An attempt at opening the database ran out of DATABASE_TIMEOUT_SECONDS."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no answer within {seconds:g}s")
        self.seconds = seconds


def database_problem(db_url: str) -> Describe:
    def describe(error: BaseException) -> Problem | None:
        if isinstance(error, DatabaseTimeout):
            # Transient: a database that is starting, or a lock held by a process that ends.
            shown = f"DATABASE_URL={redacted_url(db_url)}"
            return Problem(
                f"opening the database and applying migrations ({shown}) "
                f"did not finish within {error.seconds:g}s (DATABASE_TIMEOUT_SECONDS): the "
                "database accepts connections but does not answer, or another process holds "
                "a lock; raise DATABASE_TIMEOUT_SECONDS if a migration needs longer",
                True,
            )
        described = describe_database_error(error, db_url)
        return Problem(*described) if described else None

    return describe


async def _open_database(url: str, seconds: float) -> None:
    """One attempt at init_database, within `seconds`. Whatever it leaves open is closed when
    it fails, is cut off or is cancelled: an open SQLite connection's thread would keep the
    process from exiting, and a retry must start afresh."""
    try:
        async with asyncio.timeout(seconds) as deadline:
            await init_database(url)
    except BaseException:
        await _close_quietly()
        if deadline.expired():
            raise DatabaseTimeout(seconds) from None
        raise


async def _close_quietly() -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(STOP_GRACE_SECONDS):
            await close_database()


async def reach_database(config: Config, stop: asyncio.Event) -> bool:
    """Connect and migrate, each attempt within DATABASE_TIMEOUT_SECONDS, retrying while the
    database is unreachable; False (nothing left open) if `stop` came first."""
    url = config.database_url
    return await with_retries(
        lambda: _open_database(url, config.database_timeout_seconds),
        database_problem(url),
        patience=config.startup_retry_seconds,
        stop=stop,
    )


async def reach_telegram(app: Application, config: Config, stop: asyncio.Event) -> bool:
    """Initialize the application (its getMe proves the token), retrying while Telegram is
    unreachable."""
    return await with_retries(
        app.initialize,
        lambda error: describe_telegram_error(error, config.telegram_base_url),
        patience=config.startup_retry_seconds,
        stop=stop,
    )

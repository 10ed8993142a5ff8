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
from bot.telegram_io.errors import retry_after_seconds
from storage.db import describe_database_error, init_database

log = logging.getLogger(__name__)

# Exit statuses of `python -m bot`: 2 = the configuration is wrong (retrying cannot help),
# 1 = something stayed unreachable.
EXIT_MISCONFIGURED = 2
EXIT_UNREACHABLE = 1


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


def database_problem(db_url: str) -> Describe:
    def describe(error: BaseException) -> Problem | None:
        described = describe_database_error(error, db_url)
        return Problem(*described) if described else None

    return describe


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
    `stop` was set while waiting: the operator asked the bot to stop before it ever started.
    """
    deadline = clock() + patience
    attempt = 0
    while True:
        attempt += 1
        try:
            await step()
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


async def reach_database(config: Config, stop: asyncio.Event) -> bool:
    """Connect and migrate, retrying while the database is unreachable."""
    url = config.database_url
    return await with_retries(
        lambda: init_database(url),
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

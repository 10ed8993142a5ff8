"""A rate limiter wrapped so that every error Telegram answers is counted.

Every Bot API call but getUpdates passes through the rate limiter, each of its own retries
included: the one place that sees them all. The wrapper leaves the pacing to the limiter it
wraps, whichever that is.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import BaseRateLimiter

from bot.ops.metrics import BotMetrics

Result = bool | dict[str, Any] | list[dict[str, Any]]

# Most specific first: TimedOut and BadRequest are NetworkErrors.
_KINDS: tuple[tuple[type[TelegramError], str], ...] = (
    (RetryAfter, "flood_limit"),
    (ChatMigrated, "chat_migrated"),
    (Forbidden, "forbidden"),
    (InvalidToken, "unauthorized"),
    (Conflict, "conflict"),
    (TimedOut, "timed_out"),
    (BadRequest, "bad_request"),
    (NetworkError, "network"),
)


def telegram_error_kind(error: TelegramError) -> str:
    return next((kind for cls, kind in _KINDS if isinstance(error, cls)), "other")


class MeteredRateLimiter(BaseRateLimiter[int]):
    def __init__(self, limiter: BaseRateLimiter[int], metrics: BotMetrics) -> None:
        self._limiter = limiter
        self._metrics = metrics

    async def initialize(self) -> None:
        await self._limiter.initialize()

    async def shutdown(self) -> None:
        await self._limiter.shutdown()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Result]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Result:
        async def counted(*call_args: Any, **call_kwargs: Any) -> Result:
            try:
                return await callback(*call_args, **call_kwargs)
            except TelegramError as error:
                self._metrics.telegram_error(endpoint, telegram_error_kind(error))
                raise

        return await self._limiter.process_request(
            counted, args, kwargs, endpoint, data, rate_limit_args
        )

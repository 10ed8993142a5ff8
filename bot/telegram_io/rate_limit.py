"""Telegram's flood limits, kept per chat, so that a busy group waits only for itself.

Telegram allows a bot about 30 messages a second overall and 20 a minute in one group (edits
and chat actions count), and answers 429 with `retry_after` beyond that. python-telegram-bot's
AIORateLimiter pauses *every* request of the bot after any 429, and counts a group's messages
in a leaky bucket that lets about 40 through in the group's first minute. Here a group's
messages are counted in a sliding 60-second window, so its 21st message waits for the minute
instead of drawing a 429, and a 429 that does come pauses only the chat it was for. The
counting itself is in `flood_windows`: in memory for one process (SQLite), in the database for
every instance on one PostgreSQL database together (`shared=True`).

Every Bot API call but getUpdates passes through here, each retry included, so this is also
where the errors Telegram answers are counted for the metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from typing import Any

from telegram.error import RetryAfter, TelegramError
from telegram.ext import BaseRateLimiter

from bot.metrics import BotMetrics
from bot.outages import Outages
from bot.telegram_io.errors import retry_after_seconds
from bot.telegram_io.flood_windows import EVERY_CHAT, ChatKey, LocalWindows, SharedWindows

log = logging.getLogger(__name__)

# Set by a caller that must record that a request is leaving (a reply part, which must not be
# sent twice): awaited once the request's turn has come, right before it goes to Telegram. A
# crash while the request still waited its turn then leaves no record that it may have gone.
BEFORE_SENDING: ContextVar[Callable[[], Awaitable[None]] | None] = ContextVar(
    "before_sending", default=None
)

OVERALL_PER_SECOND = 30
GROUP_PER_MINUTE = 20
# Of a group's minute, what result parts (sent with BEFORE_SENDING) may not take: kept for the
# answers people wait for ("Received", a menu), so a long result or a resend never holds them.
INTERACTIVE_RESERVE = 3
# Methods that put something in a chat, and so count towards a group's 20 a minute.
COUNTED_PREFIXES = ("send", "edit", "copy", "forward")


class ChatRateLimiter(BaseRateLimiter[int]):
    def __init__(
        self,
        metrics: BotMetrics,
        *,
        max_retries: int = 3,
        per_second: int = OVERALL_PER_SECOND,
        group_per_minute: int = GROUP_PER_MINUTE,
        interactive_reserve: int = INTERACTIVE_RESERVE,
        window_seconds: float = 60.0,
        shared: bool = False,
        clock: Callable[[], float] = time.monotonic,
        outages: Outages | None = None,
    ) -> None:
        """`group_per_minute` messages per `window_seconds` in one group, `per_second` for the
        whole bot. `shared`: counted in the database with the other instances on it."""
        self._metrics = metrics
        # Every Bot API request but getUpdates passes here: its outcomes tell Telegram's
        # outage log whether Telegram is there.
        outages = outages or Outages()
        self._telegram = outages.telegram
        self._max_retries = max_retries
        self._group_limit = group_per_minute
        self._bulk_limit = max(1, group_per_minute - interactive_reserve)
        local = LocalWindows(per_second=per_second, window_seconds=window_seconds, clock=clock)
        self._windows: LocalWindows | SharedWindows = (
            SharedWindows(
                local,
                per_second=per_second,
                window_seconds=window_seconds,
                database=outages.database,
            )
            if shared
            else local
        )

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        chat = _chat_key(data.get("chat_id"))
        retries = self._max_retries if rate_limit_args is None else rate_limit_args
        attempt = 0
        while True:
            await self._windows.turn(chat, self._group_limit_for(chat, endpoint))
            about_to_send = BEFORE_SENDING.get()
            if about_to_send is not None:
                await about_to_send()
            try:
                answer = await callback(*args, **kwargs)
            except TelegramError as exc:
                self._metrics.telegram_error(endpoint, exc)
                if not self._telegram.outage(exc, endpoint):
                    self._telegram.worked()  # refused, but answered
                if not isinstance(exc, RetryAfter) or attempt >= retries:
                    raise
                attempt += 1
                wait = retry_after_seconds(exc)
                await self._windows.pause(EVERY_CHAT if chat is None else chat, wait)
                log.info("Telegram flood limit: one chat paused for %.0fs", wait)
            else:
                self._telegram.worked()
                return answer

    def _group_limit_for(self, chat: ChatKey | None, endpoint: str) -> int | None:
        """How full the group's window may be for this request to go; None: not counted."""
        if chat is None or not _is_group(chat) or not endpoint.startswith(COUNTED_PREFIXES):
            return None
        bulk = BEFORE_SENDING.get() is not None
        return self._bulk_limit if bulk else self._group_limit


def _chat_key(chat_id: object) -> ChatKey | None:
    if isinstance(chat_id, int):
        return chat_id
    if isinstance(chat_id, str):
        return int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id
    return None


def _is_group(chat: ChatKey) -> bool:
    """Groups and channels have negative ids; a channel may also be addressed as @name."""
    return isinstance(chat, str) or chat < 0

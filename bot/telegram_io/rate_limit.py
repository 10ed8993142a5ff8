"""Telegram's flood limits, kept per chat, so that a busy group waits only for itself.

Telegram allows a bot about 30 messages a second overall and 20 a minute in one group (edits
and chat actions count), and answers 429 with `retry_after` beyond that. python-telegram-bot's
AIORateLimiter pauses *every* request of the bot after any 429, and counts a group's messages
in a leaky bucket that lets about 40 through in the group's first minute. Here a group's
messages are counted in a sliding 60-second window, so its 21st message waits for the minute
instead of drawing a 429, and a 429 that does come pauses only the chat it was for.

Every Bot API call but getUpdates passes through here, each retry included, so this is also
where the errors Telegram answers are counted for the metrics.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.error import RetryAfter, TelegramError
from telegram.ext import BaseRateLimiter

from bot.metrics import BotMetrics
from bot.outages import Outages
from bot.telegram_io.errors import retry_after_seconds

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
_EVERY_CHAT = "*"  # the key of a pause that came from a request without a chat

ChatKey = int | str


class _Window:
    """Send times of one group in the last minute."""

    def __init__(self) -> None:
        self.times: deque[float] = deque()
        self.lock = asyncio.Lock()  # the count and the append as one step


class ChatRateLimiter(BaseRateLimiter[int]):
    def __init__(
        self,
        metrics: BotMetrics,
        *,
        max_retries: int = 3,
        group_per_minute: int = GROUP_PER_MINUTE,
        interactive_reserve: int = INTERACTIVE_RESERVE,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        outages: Outages | None = None,
    ) -> None:
        self._metrics = metrics
        # Every Bot API request but getUpdates passes here: its outcomes tell Telegram's
        # outage log whether Telegram is there.
        self._telegram = (outages or Outages()).telegram
        self._max_retries = max_retries
        self._group_limit = group_per_minute
        self._bulk_limit = max(1, group_per_minute - interactive_reserve)
        self._window_seconds = window_seconds
        self._clock = clock
        self._overall = AsyncLimiter(OVERALL_PER_SECOND, 1)
        self._windows: dict[ChatKey, _Window] = {}
        self._paused_until: dict[ChatKey, float] = {}

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
            await self._wait_turn(chat, endpoint)
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
                pause_key = _EVERY_CHAT if chat is None else chat
                self._paused_until[pause_key] = self._clock() + wait
                log.info("Telegram flood limit: one chat paused for %.0fs", wait)
            else:
                self._telegram.worked()
                return answer

    async def _wait_turn(self, chat: ChatKey | None, endpoint: str) -> None:
        await self._wait_pause(_EVERY_CHAT)
        if chat is None:
            return
        await self._wait_pause(chat)
        if _is_group(chat) and endpoint.startswith(COUNTED_PREFIXES):
            bulk = BEFORE_SENDING.get() is not None
            await self._group_turn(chat, self._bulk_limit if bulk else self._group_limit)
        await self._overall.acquire()

    async def _wait_pause(self, key: ChatKey) -> None:
        until = self._paused_until.get(key)
        if until is None:
            return
        remaining = until - self._clock()
        if remaining > 0:
            await asyncio.sleep(remaining)
        if self._paused_until.get(key) == until:
            del self._paused_until[key]

    async def _group_turn(self, chat: ChatKey, limit: int) -> None:
        """Wait until the group's last minute holds fewer than `limit` messages. The wait is
        outside the lock, so an answer with a higher limit passes a result part waiting."""
        window = self._windows.get(chat)
        if window is None:
            self._forget_quiet_groups()
            window = self._windows[chat] = _Window()
        while True:
            async with window.lock:
                now = self._clock()
                while window.times and window.times[0] <= now - self._window_seconds:
                    window.times.popleft()
                if len(window.times) < limit:
                    window.times.append(now)
                    return
                # The send that must leave the window before this one may go.
                wait = window.times[len(window.times) - limit] + self._window_seconds - now
            await asyncio.sleep(max(wait, 0.001))

    def _forget_quiet_groups(self) -> None:
        """Keep the map small: a group with nothing sent in the last minute needs no window."""
        if len(self._windows) < 512:
            return
        cutoff = self._clock() - self._window_seconds
        for key, window in list(self._windows.items()):
            if not window.lock.locked() and (not window.times or window.times[-1] <= cutoff):
                del self._windows[key]


def _chat_key(chat_id: object) -> ChatKey | None:
    if isinstance(chat_id, int):
        return chat_id
    if isinstance(chat_id, str):
        return int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id
    return None


def _is_group(chat: ChatKey) -> bool:
    """Groups and channels have negative ids; a channel may also be addressed as @name."""
    return isinstance(chat, str) or chat < 0

"""Telegram's flood limits (opt-in): about 20 messages a minute in one group and about 30 a
second for the whole bot, then 429 with retry_after."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from tests.fakes.telegram.errors import ApiError

# What puts something in a chat (edits and chat actions count, too).
COUNTED_PREFIXES = ("send", "edit", "copy", "forward")


def counted_chat(method: str, chat_id: object) -> int | None:
    """The chat a message is put in, or None for a request that is not counted."""
    if not method.lower().startswith(COUNTED_PREFIXES):
        return None
    try:
        return int(chat_id)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


class SlidingWindow:
    """At most `limit` messages per key in any `window_seconds`."""

    def __init__(
        self, limit: int, window_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit = limit
        self._window = window_seconds
        self._clock = clock
        self._sent: dict[object, deque[float]] = {}

    def check(self, key: object) -> None:
        """Count one message, or raise the 429 Telegram would answer."""
        now = self._clock()
        sent = self._sent.setdefault(key, deque())
        while sent and sent[0] <= now - self._window:
            sent.popleft()
        if len(sent) >= self._limit:
            retry_after = max(1, math.ceil(sent[0] + self._window - now))
            raise ApiError(
                429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
            )
        sent.append(now)


class GroupFloodLimit:
    def __init__(
        self,
        per_minute: int,
        *,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._window = SlidingWindow(per_minute, window_seconds, clock)

    def check(self, method: str, chat_id: object) -> None:
        chat = counted_chat(method, chat_id)
        if chat is not None and chat < 0:  # private chats are not held to the group limit
            self._window.check(chat)


class BotFloodLimit:
    def __init__(self, per_second: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._window = SlidingWindow(per_second, 1.0, clock)

    def check(self, method: str, chat_id: object) -> None:
        if counted_chat(method, chat_id) is not None:
            self._window.check("bot")

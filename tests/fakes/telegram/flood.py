"""Telegram's flood limit for groups: about 20 messages a minute, then 429 with retry_after."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from tests.fakes.telegram.errors import ApiError

# What puts something in a chat (edits and chat actions count, too).
COUNTED_PREFIXES = ("send", "edit", "copy", "forward")


class GroupFloodLimit:
    def __init__(
        self,
        per_minute: int,
        *,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = per_minute
        self._window = window_seconds
        self._clock = clock
        self._sent: dict[int, deque[float]] = {}

    def check(self, method: str, chat_id: object) -> None:
        """Count one message to a group, or raise the 429 Telegram would answer."""
        if not method.lower().startswith(COUNTED_PREFIXES):
            return
        try:
            chat = int(chat_id)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            return
        if chat >= 0:
            return  # private chats are not held to the group limit
        now = self._clock()
        sent = self._sent.setdefault(chat, deque())
        while sent and sent[0] <= now - self._window:
            sent.popleft()
        if len(sent) >= self._limit:
            retry_after = max(1, math.ceil(sent[0] + self._window - now))
            raise ApiError(
                429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
            )
        sent.append(now)

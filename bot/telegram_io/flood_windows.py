"""Where Telegram's flood limits are counted: the bot's messages in the last second, each
group's in its last window, and the pauses a 429 asked for. `ChatRateLimiter` asks for a turn
here before each request."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from aiolimiter import AsyncLimiter

EVERY_CHAT = "*"  # the key of the whole bot: a pause for every chat

ChatKey = int | str


class _Window:
    """Send times of one group in the last window."""

    def __init__(self) -> None:
        self.times: deque[float] = deque()
        self.lock = asyncio.Lock()  # the count and the append as one step


class LocalWindows:
    """The limits as one process counts them, in memory."""

    def __init__(
        self,
        *,
        per_second: int,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._window_seconds = window_seconds
        self._clock = clock
        self._overall = AsyncLimiter(per_second, 1)
        self._windows: dict[ChatKey, _Window] = {}
        self._paused_until: dict[ChatKey, float] = {}

    async def turn(self, chat: ChatKey | None, group_limit: int | None) -> None:
        """Wait until a request to `chat` may go: no pause holds it, and (`group_limit` set)
        the group's window holds fewer than that many messages, which this one joins."""
        await self._wait_pause(EVERY_CHAT)
        if chat is None:
            return
        await self._wait_pause(chat)
        if group_limit is not None:
            await self._group_turn(chat, group_limit)
        await self._overall.acquire()

    async def pause(self, key: ChatKey, seconds: float) -> None:
        """Telegram answered 429: nothing more to `key` (or to anyone, EVERY_CHAT) for now."""
        self._paused_until[key] = self._clock() + seconds

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

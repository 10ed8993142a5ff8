"""Where Telegram's flood limits are counted: the bot's messages in the last second, each
group's in its last window, and the pauses a 429 asked for. `ChatRateLimiter` asks for a turn
here before each request.

Telegram counts per bot, not per process. `LocalWindows` counts in memory, for one process
(SQLite). `SharedWindows` counts in the database (`telegram_windows`), for every instance on
one PostgreSQL database together, and a 429 one of them is told holds for all.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiolimiter import AsyncLimiter
from tortoise import connections

from bot.outages import OutageLog, Outages
from bot.telegram_io.errors import MAX_RETRY_AFTER

log = logging.getLogger(__name__)

EVERY_CHAT = "*"  # the key of the whole bot: its last second, and a pause for every chat
# Shared: a group's message is counted this much longer than its window, for the moments
# between the grant and its arrival at Telegram, and for clocks of several hosts a little apart.
SHARED_MARGIN_SECONDS = 1.0
# A full window (or a pause) is looked at again at least this often: a pause another instance
# was told, or a slot freed sooner, is then noticed.
SHARED_RECHECK_SECONDS = 1.0
# A database slower than this for one turn is not waited for: the instance then counts alone,
# in memory, for SHARED_FALLBACK_SECONDS, rather than hold every message up.
SHARED_TIMEOUT_SECONDS = 3.0
SHARED_FALLBACK_SECONDS = 10.0
# Windows of groups that got nothing lately are deleted this often.
SHARED_PRUNE_SECONDS = 60.0

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


# One window's turn, as the SET of an upsert on its row (`w`): the times still in the window,
# and this send's, if fewer than {limit} are; else the row as it was. The row is locked while
# the statement runs and read as last committed, so instances never both take its last slot.
_TAKE_SLOT = """
    ON CONFLICT (key) DO UPDATE SET (times, token) = (
        SELECT CASE WHEN count(*) < {limit}
                    THEN COALESCE(jsonb_agg(e.t ORDER BY e.n), '[]'::jsonb) || to_jsonb($1::float8)
                    ELSE w.times END,
               CASE WHEN count(*) < {limit} THEN $7::bigint ELSE w.token END
        FROM jsonb_array_elements(w.times) WITH ORDINALITY AS e(t, n)
        WHERE e.t::float8 > $1::float8 - {window})
    RETURNING w.token = $7::bigint AS granted, w.times"""

# A turn in one statement (one round trip): no pause holds the chat or the bot; then the
# group's window (when $3, its limit, is set), then the bot's second, taken only if the group's
# was. $1 now, $2 the chat, $3/$4 the group's limit and window, $5/$6 the bot's, $7 this
# send's token, $8 the longest pause kept (a stored one is bounded as a fresh one is).
_TURN = f"""
WITH paused AS (
    SELECT LEAST(COALESCE(MAX(paused_until) FILTER (WHERE key = '*'), 0),
                 $1::float8 + $8::float8) AS bot,
           LEAST(COALESCE(MAX(paused_until) FILTER (WHERE key = $2::text), 0),
                 $1::float8 + $8::float8) AS chat
    FROM telegram_windows WHERE key = '*' OR key = $2::text
),
chat AS (
    INSERT INTO telegram_windows AS w (key, times, paused_until, token)
    SELECT $2::text, jsonb_build_array($1::float8), 0, $7::bigint FROM paused
    WHERE $3::int IS NOT NULL AND GREATEST(paused.bot, paused.chat) <= $1::float8
    {_TAKE_SLOT.format(limit="$3::int", window="$4::float8")}
),
bot AS (
    INSERT INTO telegram_windows AS w (key, times, paused_until, token)
    SELECT '*', jsonb_build_array($1::float8), 0, $7::bigint FROM paused
    WHERE GREATEST(paused.bot, paused.chat) <= $1::float8
      AND ($3::int IS NULL OR COALESCE((SELECT granted FROM chat), FALSE))
    {_TAKE_SLOT.format(limit="$5::int", window="$6::float8")}
)
SELECT paused.bot AS bot_paused, paused.chat AS chat_paused,
       (SELECT granted FROM chat) AS chat_granted, (SELECT times FROM chat) AS chat_times,
       (SELECT granted FROM bot) AS bot_granted, (SELECT times FROM bot) AS bot_times
FROM paused
"""

# A 429: the longer of this pause and one another instance stored meanwhile.
_PAUSE = """
INSERT INTO telegram_windows AS w (key, times, paused_until, token)
VALUES ($1::text, '[]'::jsonb, $2::float8, 0)
ON CONFLICT (key) DO UPDATE SET paused_until = GREATEST(w.paused_until, EXCLUDED.paused_until)
"""

# Groups with nothing in their window and no pause to come; the bot's own row stays.
_PRUNE = """
DELETE FROM telegram_windows
WHERE key <> '*' AND paused_until < $1::float8
  AND COALESCE((times ->> -1)::float8, 0) < $1::float8 - $2::float8
"""


@dataclass(frozen=True)
class _Turn:
    group_taken: bool  # the group's slot is this send's (it may still wait for the bot's)
    wait: float  # 0: go now; else how long until a slot frees or the pause ends


class SharedWindows:
    """The limits counted in the database, for every instance on it together (PostgreSQL).

    A turn costs one statement: an upsert of the group's row and of the bot's row
    (`telegram_windows`, key "*"), each holding its send times in the window, under the row
    lock the upsert takes (what the advisory lock does for Intron's budget, without its
    round trips). A 429 is stored as the row's pause, bounded as a fresh `retry_after` is, and
    every instance's next turn for that chat waits it out. A database that fails or is slow
    is not waited for: this instance counts alone in memory (`LocalWindows`) for a while.
    """

    def __init__(
        self,
        local: LocalWindows,
        *,
        per_second: int,
        window_seconds: float,
        margin: float = SHARED_MARGIN_SECONDS,
        timeout: float = SHARED_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.time,
        database: OutageLog | None = None,
    ) -> None:
        self._local = local
        # The process's database outage log: a failed turn is one of its operations.
        self._database = database or Outages().database
        self._per_second = per_second
        # Shared windows are compared across hosts: epoch seconds, with the margin.
        self._group_window = window_seconds + margin
        self._timeout = timeout
        self._clock = clock
        self._local_until = 0.0  # counting alone until then (the database failed)
        self._bot_paused_until = 0.0  # as last read: holds requests that name no chat
        self._pruned_at = clock()

    async def turn(self, chat: ChatKey | None, group_limit: int | None) -> None:
        if chat is None:
            # Nothing is counted for these (getFile, a button's answer): only a pause of the
            # whole bot holds them, as this instance last read it.
            await _sleep_until(self._bot_paused_until, self._clock)
            await self._local.turn(None, None)
            return
        limit = group_limit
        while True:
            if self._clock() < self._local_until:
                await self._local.turn(chat, limit)
                return
            try:
                turn = await asyncio.wait_for(self._take(chat, limit), self._timeout)
            except Exception as exc:  # any failure of the database: count alone for a while
                self._count_alone(exc)
                continue
            self._database.worked()
            if self._local_until:
                self._local_until = 0.0
                log.debug("Telegram flood limits: counted with the other instances again")
            if turn.wait <= 0:
                return
            if turn.group_taken:
                limit = None  # the group's slot is held; only the bot's second is waited for
            # The wait is for time to pass (a window to slide), not for an event.
            await asyncio.sleep(min(turn.wait, SHARED_RECHECK_SECONDS))

    async def pause(self, key: ChatKey, seconds: float) -> None:
        await self._local.pause(key, seconds)
        until = self._clock() + min(MAX_RETRY_AFTER, max(0.0, seconds))
        if key == EVERY_CHAT:
            self._bot_paused_until = max(self._bot_paused_until, until)
        try:
            await asyncio.wait_for(
                connections.get("default").execute_query(_PAUSE, [str(key), until]),
                self._timeout,
            )
        except Exception as exc:  # kept in memory: this instance still waits it out
            self._count_alone(exc)

    async def _take(self, chat: ChatKey, group_limit: int | None) -> _Turn:
        now = self._clock()
        token = secrets.randbits(62)
        connection = connections.get("default")
        [row] = await connection.execute_query_dict(
            _TURN,
            [
                now,
                str(chat),
                group_limit,
                self._group_window,
                self._per_second,
                1.0,
                token,
                MAX_RETRY_AFTER,
            ],
        )
        await self._prune(now)
        self._bot_paused_until = float(row["bot_paused"])
        paused = max(self._bot_paused_until, float(row["chat_paused"]))
        if paused > now:
            return _Turn(group_taken=False, wait=paused - now)
        group_taken = group_limit is None or bool(row["chat_granted"])
        if not group_taken:
            wait = _until_free(row["chat_times"], group_limit or 1, self._group_window, now)
            return _Turn(group_taken=False, wait=wait)
        if row["bot_granted"]:
            return _Turn(group_taken=True, wait=0.0)
        return _Turn(
            group_taken=True, wait=_until_free(row["bot_times"], self._per_second, 1.0, now)
        )

    async def _prune(self, now: float) -> None:
        if now - self._pruned_at < SHARED_PRUNE_SECONDS:
            return
        self._pruned_at = now
        await connections.get("default").execute_query(_PRUNE, [now, self._group_window])

    def _count_alone(self, exc: BaseException) -> None:
        """The database failed a turn or a pause (or took longer than the timeout): count
        alone for a while. An outage is told by the database outage log, a bug with its
        traceback; either way no message waits for the database."""
        if isinstance(exc, TimeoutError):
            self._database.count("Telegram flood limits", "no answer within the timeout")
        else:
            self._database.failed(exc, "Telegram flood limits")
        if self._clock() >= self._local_until:
            log.debug(
                "Telegram flood limits: counting this instance's messages alone for %.0fs",
                SHARED_FALLBACK_SECONDS,
            )
        self._local_until = self._clock() + SHARED_FALLBACK_SECONDS


def _until_free(times: Any, limit: int, window: float, now: float) -> float:
    """How long until a window holding `times` (a JSON array) has fewer than `limit` of them."""
    values = json.loads(times) if isinstance(times, str) else list(times or [])
    recent = sorted(float(t) for t in values if float(t) > now - window)
    if len(recent) < limit:
        return 0.001  # freed meanwhile: look again at once
    return max(recent[len(recent) - limit] + window - now, 0.001)


async def _sleep_until(until: float, clock: Callable[[], float]) -> None:
    remaining = until - clock()
    if remaining > 0:
        await asyncio.sleep(remaining)

"""Intron's per-key call budget, shared by every job, every instance, and kept across restarts."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
import zlib
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping

from tortoise.transactions import in_transaction

from bot.intron.client import MAX_RETRY_AFTER
from storage.models import ApiCall, EndpointPause

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60.0
# Our clock and Intron's see a call a few milliseconds apart, and not always the same few:
# waiting this much past the window keeps both sides' counts under the limit. Instances on
# several hosts need clocks kept in step (NTP) to well within it.
SAFETY_MARGIN_SECONDS = 1.0
# The call log is pruned this often (as a share of the window), so under steady load it holds
# little more than one window of calls.
PRUNE_SHARE = 0.1
# A full window is looked at again at least this often: another instance's 429 pause, or a
# slot freed sooner than expected, is then noticed.
SHARED_RECHECK_SECONDS = 1.0
# The advisory lock of an endpoint's slots: the same number in every instance.
BUDGET_LOCK_BASE = 0x1A7E_0100


class RateBudget:
    """At most `limits[endpoint]` calls in any sliding window, and no call during a pause.

    A call is recorded in the database *before* it is made, so a process killed mid-call
    still counts it and its successor does not spend it again.

    `shared=True` (PostgreSQL, several instances on one key): the call log in the database is
    the budget. A slot is taken in one transaction under the endpoint's advisory lock (count
    the window, record the call), so instances together never exceed the limit, and a
    Retry-After pause one instance was told holds for all. Otherwise (SQLite, one process) the
    window is kept in memory and the database only remembers it across restarts.
    """

    def __init__(
        self,
        limits: Mapping[str, int],
        *,
        window: float = WINDOW_SECONDS,
        margin: float = SAFETY_MARGIN_SECONDS,
        clock: Callable[[], float] = time.time,
        shared: bool = False,
    ) -> None:
        self._limits = dict(limits)
        self._window = window
        self._margin = margin
        self._clock = clock
        self._shared = shared
        # Shared: the window as last read from the database (with our own calls since), for
        # `used`, which must answer without a query.
        self._calls: dict[str, deque[float]] = {e: deque() for e in limits}
        self._paused_until: dict[str, float] = dict.fromkeys(limits, 0.0)
        self._locks = {e: asyncio.Lock() for e in limits}
        self._pruned_at: dict[str, float] = dict.fromkeys(limits, 0.0)

    async def load(self) -> None:
        """Pick up what earlier processes (or, shared, the other instances) spent in the
        current window."""
        now = self._clock()
        await ApiCall.filter(at__lt=now - self._window - self._margin).delete()
        for endpoint, calls in self._calls.items():
            times = (
                await ApiCall.filter(endpoint=endpoint).order_by("at").values_list("at", flat=True)
            )
            calls.clear()
            calls.extend(float(t) for t in times)
        for pause in await EndpointPause.filter(until__gt=now):
            if pause.endpoint in self._paused_until:
                # Bounded as a fresh Retry-After is: a row written by an older version (or
                # by hand) must not pause an endpoint for ever.
                self._paused_until[pause.endpoint] = min(pause.until, now + MAX_RETRY_AFTER)
        for endpoint, calls in self._calls.items():
            if calls:
                log.info("budget %s: %d calls already spent in this window", endpoint, len(calls))

    def paused_until(self, endpoint: str) -> float:
        """When this process may call `endpoint` again after a Retry-After (0: not paused)."""
        return self._paused_until[endpoint]

    @property
    def limits(self) -> Mapping[str, int]:
        return dict(self._limits)

    def used(self, endpoint: str) -> int:
        """Calls spent in the current window. Shared, as of this instance's last call (or
        last look at a full window): others' calls since then are not counted yet."""
        self._expire(endpoint, self._clock())
        return len(self._calls[endpoint])

    async def acquire(self, endpoint: str) -> None:
        """Wait for a free slot, then spend it. Waiters are served first come, first served
        (within an instance; instances take free slots as they come)."""
        await self._take(endpoint)

    @contextlib.asynccontextmanager
    async def spend(self, endpoint: str) -> AsyncIterator[None]:
        """`acquire`, for the call made inside the block: the slot counts from now until the
        call is answered. Intron counts the call when it arrives, somewhere in between, and on
        a busy machine that can be seconds after the slot was granted."""
        at, row_id = await self._take(endpoint)
        try:
            yield
        finally:
            await asyncio.shield(self._answered(endpoint, at, row_id))

    async def _take(self, endpoint: str) -> tuple[float, int]:
        """Wait for a free slot and record it; (its time, its row in the call log)."""
        async with self._locks[endpoint]:
            if self._shared:
                # The wait is for time to pass (the window to slide), not for an event.
                while isinstance(taken := await self._take_shared(endpoint), float):  # noqa: ASYNC110
                    await asyncio.sleep(min(taken, SHARED_RECHECK_SECONDS))
                at, row_id = taken
            else:
                while (delay := self._delay(endpoint)) > 0:  # noqa: ASYNC110
                    await asyncio.sleep(delay)
                at = self._clock()
                self._calls[endpoint].append(at)
                row_id = (await ApiCall.create(endpoint=endpoint, at=at)).id
            await self._prune(endpoint, at)
            return at, row_id

    async def _answered(self, endpoint: str, at: float, row_id: int) -> None:
        """The call granted at `at` was answered now: it stays in the window from now on."""
        now = self._clock()
        calls = self._calls[endpoint]
        with contextlib.suppress(ValueError):
            calls.remove(at)
        bisect.insort(calls, now)
        await ApiCall.filter(id=row_id).update(at=now)

    async def pause(self, endpoint: str, seconds: float) -> None:
        """Intron said 429: nobody calls this endpoint until the Retry-After has passed."""
        until = self._clock() + min(MAX_RETRY_AFTER, max(0.0, seconds))
        if until <= self._paused_until[endpoint]:
            return
        self._paused_until[endpoint] = until
        if self._shared:
            # Another instance may have been told a longer pause meanwhile: keep the longer.
            async with in_transaction() as connection:
                await connection.execute_query(
                    "INSERT INTO endpoint_pauses (endpoint, until) VALUES ($1, $2) "
                    "ON CONFLICT (endpoint) DO UPDATE "
                    "SET until = GREATEST(endpoint_pauses.until, EXCLUDED.until)",
                    [endpoint, until],
                )
        else:
            await EndpointPause.update_or_create(defaults={"until": until}, endpoint=endpoint)
        log.warning("budget %s: paused for %.1fs by Intron's Retry-After", endpoint, seconds)

    async def _take_shared(self, endpoint: str) -> tuple[float, int] | float:
        """Take a slot if the window (as the database has it) has one: (its time, its row).
        Otherwise how long until one frees up (or the pause ends), having taken nothing."""
        async with in_transaction() as connection:
            await connection.execute_query(
                "SELECT pg_advisory_xact_lock($1)", [_lock_key(endpoint)]
            )
            now = self._clock()
            # Plain SQL: this path is PostgreSQL's alone.
            _, paused = await connection.execute_query(
                "SELECT until FROM endpoint_pauses WHERE endpoint = $1 AND until > $2",
                [endpoint, now],
            )
            if paused:
                until = min(float(paused[0]["until"]), now + MAX_RETRY_AFTER)
                self._paused_until[endpoint] = max(self._paused_until[endpoint], until)
                return until - now
            _, rows = await connection.execute_query(
                "SELECT at FROM api_calls WHERE endpoint = $1 AND at > $2 ORDER BY at",
                [endpoint, now - self._window - self._margin],
            )
            times = [float(row["at"]) for row in rows]
            self._calls[endpoint] = deque(times)
            limit = self._limits[endpoint]
            if len(times) >= limit:
                # The call that frees the slot we would get is the len-limit+1'th oldest.
                return times[len(times) - limit] + self._window + self._margin - now
            [row] = await connection.execute_query_dict(
                "INSERT INTO api_calls (endpoint, at) VALUES ($1, $2) RETURNING id", [endpoint, now]
            )
            self._calls[endpoint].append(now)
            return now, int(row["id"])

    async def _prune(self, endpoint: str, at: float) -> None:
        """`at`: the call just granted (so the clock's last reading stays the grant's)."""
        if at - self._pruned_at[endpoint] >= self._window * PRUNE_SHARE:
            self._pruned_at[endpoint] = at
            await ApiCall.filter(
                endpoint=endpoint, at__lt=at - self._window - self._margin
            ).delete()

    def _delay(self, endpoint: str) -> float:
        now = self._clock()
        pause = self._paused_until[endpoint] - now
        if pause > 0:
            return pause
        self._expire(endpoint, now)
        calls = self._calls[endpoint]
        if len(calls) < self._limits[endpoint]:
            return 0.0
        return calls[0] + self._window + self._margin - now

    def _expire(self, endpoint: str, now: float) -> None:
        calls = self._calls[endpoint]
        while calls and calls[0] <= now - self._window - self._margin:
            calls.popleft()


def _lock_key(endpoint: str) -> int:
    return (BUDGET_LOCK_BASE << 32) | zlib.crc32(endpoint.encode())

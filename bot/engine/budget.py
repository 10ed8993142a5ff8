"""Intron's per-key call budget, shared by every job and kept across restarts."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping

from storage.models import ApiCall, EndpointPause

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60.0
# Our clock and Intron's see a call a few milliseconds apart, and not always the same few:
# waiting this much past the window keeps both sides' counts under the limit.
SAFETY_MARGIN_SECONDS = 1.0
# The call log is pruned this often (as a share of the window), so under steady load it holds
# little more than one window of calls.
PRUNE_SHARE = 0.1


class RateBudget:
    """At most `limits[endpoint]` calls in any sliding window, and no call during a pause.

    A call is recorded in the database *before* it is made, so a process killed mid-call
    still counts it and its successor does not spend it again.
    """

    def __init__(
        self,
        limits: Mapping[str, int],
        *,
        window: float = WINDOW_SECONDS,
        margin: float = SAFETY_MARGIN_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._limits = dict(limits)
        self._window = window
        self._margin = margin
        self._clock = clock
        self._calls: dict[str, deque[float]] = {e: deque() for e in limits}
        self._paused_until: dict[str, float] = dict.fromkeys(limits, 0.0)
        self._locks = {e: asyncio.Lock() for e in limits}
        self._pruned_at: dict[str, float] = dict.fromkeys(limits, 0.0)

    async def load(self) -> None:
        """Pick up what earlier processes spent in the current window."""
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
                self._paused_until[pause.endpoint] = pause.until
        for endpoint, calls in self._calls.items():
            if calls:
                log.info("budget %s: %d calls already spent in this window", endpoint, len(calls))

    @property
    def limits(self) -> Mapping[str, int]:
        return dict(self._limits)

    def used(self, endpoint: str) -> int:
        self._expire(endpoint, self._clock())
        return len(self._calls[endpoint])

    async def acquire(self, endpoint: str) -> None:
        """Wait for a free slot, then spend it. Waiters are served first come, first served."""
        async with self._locks[endpoint]:
            # The wait is for time to pass (the window to slide), not for an event.
            while (delay := self._delay(endpoint)) > 0:  # noqa: ASYNC110
                await asyncio.sleep(delay)
            at = self._clock()
            self._calls[endpoint].append(at)
            await ApiCall.create(endpoint=endpoint, at=at)
            if at - self._pruned_at[endpoint] >= self._window * PRUNE_SHARE:
                self._pruned_at[endpoint] = at
                await ApiCall.filter(
                    endpoint=endpoint, at__lt=at - self._window - self._margin
                ).delete()

    async def pause(self, endpoint: str, seconds: float) -> None:
        """Intron said 429: nobody calls this endpoint until the Retry-After has passed."""
        until = self._clock() + max(0.0, seconds)
        if until <= self._paused_until[endpoint]:
            return
        self._paused_until[endpoint] = until
        await EndpointPause.update_or_create(defaults={"until": until}, endpoint=endpoint)
        log.warning("budget %s: paused for %.1fs by Intron's Retry-After", endpoint, seconds)

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

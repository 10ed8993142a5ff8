"""GET /healthz for the platform's health check and a load balancer.

200 while the database would store an update now and the job scheduler ticked recently;
503 otherwise, with one word of why.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse

from storage.db import wait_uncancelled

PROBE_TIMEOUT_SECONDS = 2.0
# The scheduler ticks at least every few seconds even when idle (scheduler.IDLE_WAKE_SECONDS).
SCHEDULER_STALE_SECONDS = 30.0


class HealthCheck:
    def __init__(
        self,
        *,
        probe_database: Callable[[], Awaitable[None]],
        last_scheduler_tick: Callable[[], float],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._probe = probe_database
        self._last_tick = last_scheduler_tick
        self._clock = clock

    async def endpoint(self, request: Request) -> PlainTextResponse:
        try:
            await wait_uncancelled(self._probe(), PROBE_TIMEOUT_SECONDS)
        except Exception:
            return PlainTextResponse("database unavailable", status_code=503)
        if self._clock() - self._last_tick() > SCHEDULER_STALE_SECONDS:
            return PlainTextResponse("job scheduler stalled", status_code=503)
        return PlainTextResponse("ok")

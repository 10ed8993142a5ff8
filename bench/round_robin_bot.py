"""The second baseline: the naive bot, but keeping to Intron's budget with one shared poller.

Uploads keep to 60 a minute. Every job at Intron waits in one queue; a single loop asks about
the job at its head, then puts it at the back, one status call every 60/100 s (plus a safety
margin): the fastest pace Intron's 100 status calls a minute allow, shared by all jobs in
turn. It knows nothing about how long a job takes. Benchmark only; do not deploy it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections import deque
from typing import Any

import httpx

from bench.naive_bot import NaiveBot, main

STATUS_PER_MINUTE = 100
UPLOADS_PER_MINUTE = 60
# A little under the limits, never over.
CALL_EVERY_SECONDS = 60.0 / STATUS_PER_MINUTE * 1.02
UPLOAD_WINDOW_SECONDS = 65.0  # requests can reach Intron seconds after they leave under load


class RoundRobinBot(NaiveBot):
    def __init__(self, env: dict[str, str]) -> None:
        super().__init__(env)
        self.queue: deque[tuple[str, asyncio.Future[dict[str, Any]]]] = deque()
        self.poller: asyncio.Task[None] | None = None
        self.upload_turn = asyncio.Lock()
        self.uploads: deque[float] = deque()

    async def before_upload(self) -> None:
        """At most 60 uploads in any 65 s (a sliding window, as the engine keeps it)."""
        async with self.upload_turn:
            loop = asyncio.get_running_loop()
            if len(self.uploads) >= UPLOADS_PER_MINUTE:
                wait = self.uploads.popleft() + UPLOAD_WINDOW_SECONDS - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
            self.uploads.append(loop.time())

    async def wait_transcribed(self, file_id: str) -> dict[str, Any]:
        if self.poller is None:
            self.poller = asyncio.create_task(self.poll_in_turn())
        done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.queue.append((file_id, done))
        return await done

    async def poll_in_turn(self) -> None:
        while True:
            if not self.queue:
                await asyncio.sleep(0.05)
                continue
            file_id, done = self.queue.popleft()
            finished = False
            with contextlib.suppress(httpx.HTTPError):
                answer = await self.http.get(
                    f"{self.intron}/file/v1/status/{file_id}", headers=self.intron_headers
                )
                if answer.status_code == 200:
                    data = answer.json()["data"]
                    if data.get("processing_status") in (
                        "FILE_TRANSCRIBED",
                        "FILE_PROCESSING_FAILED",
                    ):
                        done.set_result(data)
                        finished = True
            if not finished and not done.cancelled():
                self.queue.append((file_id, done))
            await asyncio.sleep(CALL_EVERY_SECONDS)


if __name__ == "__main__":
    sys.exit(main(RoundRobinBot))

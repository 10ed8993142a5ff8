"""Webhook delivery: while a webhook is set, queued updates are POSTed to it, as Telegram does.

One update at a time, oldest first, as JSON with the ``X-Telegram-Bot-Api-Secret-Token``
header when a secret was set. A 2xx answer confirms the update (Telegram forgets it); any other
answer, a refused connection or a timeout is recorded for getWebhookInfo and the same update is
sent again after ``webhook_retry_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import aiohttp

from tests.fakes.telegram.methods import BotApiMethods
from tests.fakes.telegram.models import JSONDict, QueuedUpdate, Webhook

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookDelivery(BotApiMethods):
    def __init__(self, token: str, *, max_download_bytes: int) -> None:
        super().__init__(token, max_download_bytes=max_download_bytes)
        self.webhook_retry_seconds = 0.5  # real Telegram waits longer, and longer each time
        self.webhook_timeout_seconds = 30.0
        # (update_id, HTTP status or 0 when no answer came), every attempt in order.
        self.webhook_deliveries: list[tuple[int, int]] = []
        self._webhook_wake = asyncio.Event()
        self._delivery_task: asyncio.Task[None] | None = None

    def _wake_pollers(self) -> None:
        super()._wake_pollers()
        self._webhook_wake.set()

    def _set_webhook(self, params: JSONDict) -> bool:
        result = super()._set_webhook(params)
        if self.webhook is not None and self._delivery_task is None:
            self._delivery_task = asyncio.get_running_loop().create_task(self._deliver())
        return result

    async def _stop_delivery(self) -> None:
        task, self._delivery_task = self._delivery_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _next_for_webhook(self, hook: Webhook) -> QueuedUpdate | None:
        allowed = [q for q in self._queue if self._allowed(q.update, hook.allowed_updates)]
        self._queue = allowed  # Telegram drops updates of kinds the bot did not ask for
        return allowed[0] if allowed else None

    async def _deliver(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.webhook_timeout_seconds)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while not self._closing:
                hook = self.webhook
                queued = self._next_for_webhook(hook) if hook is not None else None
                if hook is None or queued is None:
                    self._webhook_wake.clear()
                    await self._webhook_wake.wait()
                    continue
                status, error = await self._post(session, hook, queued.update)
                self.webhook_deliveries.append((queued.update_id, status))
                if 200 <= status < 300:
                    if queued in self._queue:
                        self._queue.remove(queued)
                    self._confirmed([queued.update_id])
                    continue
                hook.last_error_date = int(time.time())
                hook.last_error_message = error
                await asyncio.sleep(self.webhook_retry_seconds)

    async def _post(
        self, session: aiohttp.ClientSession, hook: Webhook, update: JSONDict
    ) -> tuple[int, str]:
        headers = {SECRET_HEADER: hook.secret_token} if hook.secret_token else {}
        try:
            async with session.post(hook.url, json=update, headers=headers) as response:
                await response.read()
                return response.status, f"Wrong response from the webhook: {response.status}"
        except TimeoutError:
            return 0, "Read timeout expired"
        except aiohttp.ClientError:
            return 0, "Connection refused"

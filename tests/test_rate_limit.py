"""A group's minute under Telegram's 20 messages: result parts leave room for the answers
people wait for. Driven through the limiter's own entry point with a stand-in for the HTTP
call, and a long window, so what is asserted is an order, not a speed."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from bot.metrics import BotMetrics
from bot.telegram_io.rate_limit import BEFORE_SENDING, ChatRateLimiter

GROUP = -100123


async def send(limiter: ChatRateLimiter, sent: list[str], label: str, *, part: bool) -> None:
    async def call() -> bool:
        sent.append(label)
        return True

    async def leaving() -> None:
        pass

    marker = BEFORE_SENDING.set(leaving if part else None)
    try:
        data: dict[str, Any] = {"chat_id": GROUP, "text": label}
        await limiter.process_request(call, (), {}, "sendMessage", data, None)
    finally:
        BEFORE_SENDING.reset(marker)


async def test_an_answer_passes_result_parts_waiting_for_the_groups_minute() -> None:
    limiter = ChatRateLimiter(
        BotMetrics.unregistered(), group_per_minute=5, interactive_reserve=2, window_seconds=600
    )
    sent: list[str] = []
    for n in range(3):
        await send(limiter, sent, f"part {n}", part=True)
    waiting = asyncio.create_task(send(limiter, sent, "part 3", part=True))
    await send(limiter, sent, "Received", part=False)  # would wait ten minutes if not let by
    await send(limiter, sent, "menu", part=False)
    assert sent == ["part 0", "part 1", "part 2", "Received", "menu"]
    assert not waiting.done()
    waiting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiting

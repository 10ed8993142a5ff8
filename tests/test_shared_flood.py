"""Telegram's flood limits kept by several instances on one PostgreSQL database together: the
bot's messages a second and a group's a minute are counted in the database, and a 429 one
instance is told pauses that chat for all of them."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from telegram.error import RetryAfter

from bot.metrics import BotMetrics
from bot.telegram_io.flood_windows import SHARED_MARGIN_SECONDS, LocalWindows, SharedWindows
from bot.telegram_io.rate_limit import ChatRateLimiter
from storage.db import libpq_url
from storage.models import TelegramWindow
from tests.conftest import RecordingClock, fixture_bytes, max_in_window, transcript_replies
from tests.fakes.intron_api import FakeIntron
from tests.fakes.telegram import FakeTelegram
from tests.test_instances import instances, what_is_left

pytestmark = pytest.mark.postgres_only

GROUP = -100777
OTHER_GROUP = -100778
# Epoch seconds (about 1.7e9) read back from JSON: exact only to about 1e-6.
ROUNDING = 1e-5


def instance(clock: RecordingClock, *, per_second: int, window: float) -> SharedWindows:
    """One instance's windows: its own memory, the database shared with the others."""
    local = LocalWindows(per_second=per_second, window_seconds=window)
    return SharedWindows(local, per_second=per_second, window_seconds=window, clock=clock)


async def grants(
    windows: SharedWindows, clock: RecordingClock, chats: list[int], limit: int | None
) -> list[float]:
    granted = []
    for chat in chats:
        await windows.turn(chat, limit)
        granted.append(clock.readings[-1])
    return granted


async def test_instances_together_give_a_group_no_more_than_its_limit(
    shared_database: None,
) -> None:
    window = 0.5
    clocks = [RecordingClock() for _ in range(3)]
    instances = [instance(clock, per_second=30, window=window) for clock in clocks]
    sent = await asyncio.gather(
        *(grants(w, c, [GROUP] * 3, 3) for w, c in zip(instances, clocks, strict=True))
    )
    times = sorted(at for one in sent for at in one)
    counted = window + SHARED_MARGIN_SECONDS
    assert max_in_window(times, counted - ROUNDING) <= 3
    # Nine messages at three a window need three windows, whichever instance sent them.
    assert times[-1] - times[0] >= 2 * counted - ROUNDING
    # Another group has a window of its own.
    started = time.time()
    await instances[0].turn(OTHER_GROUP, 3)
    assert time.time() - started < counted


async def test_instances_counting_alone_would_give_the_group_three_times_its_limit() -> None:
    """What the shared windows prevent: each process's own count lets its full limit through."""
    alone = [LocalWindows(per_second=30, window_seconds=60.0) for _ in range(3)]
    started = time.monotonic()
    for windows in alone:
        for _ in range(3):
            await windows.turn(GROUP, 3)
    assert time.monotonic() - started < 30, "nine messages to the group within the minute"


async def test_instances_together_keep_the_bots_messages_a_second(shared_database: None) -> None:
    clocks = [RecordingClock() for _ in range(2)]
    instances = [instance(clock, per_second=4, window=60.0) for clock in clocks]
    # Private chats: only the bot's second counts.
    sent = await asyncio.gather(
        *(
            grants(w, c, [1000 + n for n in range(6)], None)
            for w, c in zip(instances, clocks, strict=True)
        )
    )
    times = sorted(at for one in sent for at in one)
    assert max_in_window(times, 1.0 - ROUNDING) <= 4
    assert times[-1] - times[0] >= 2.0 - ROUNDING  # twelve at four a second


async def call_through(
    limiter: ChatRateLimiter,
    chat: int,
    answers: list[BaseException | None],
    sent: list[tuple[int, float]],
) -> None:
    """One request through the limiter; Telegram answers from `answers` (an error raised, or
    None: accepted)."""

    async def call() -> bool:
        answer = answers.pop(0) if answers else None
        if answer is not None:
            raise answer
        sent.append((chat, time.time()))
        return True

    data: dict[str, Any] = {"chat_id": chat, "text": "hello"}
    await limiter.process_request(call, (), {}, "sendMessage", data, None)


async def test_a_429_told_to_one_instance_pauses_that_chat_for_every_instance(
    shared_database: None,
) -> None:
    told, other = (ChatRateLimiter(BotMetrics.unregistered(), shared=True) for _ in range(2))
    sent: list[tuple[int, float]] = []
    refused_at = time.time()
    first = asyncio.create_task(call_through(told, GROUP, [RetryAfter(2)], sent))
    await _paused(GROUP)
    # The other instance's message to the paused group waits the pause out; another group's
    # goes at once.
    await call_through(other, OTHER_GROUP, [], sent)
    await call_through(other, GROUP, [], sent)
    await first
    assert sent[0][0] == OTHER_GROUP
    group_times = [at for chat, at in sent if chat == GROUP]
    assert len(group_times) == 2
    assert min(group_times) >= refused_at + 2 - ROUNDING


async def test_a_stored_pause_is_bounded_as_a_fresh_retry_after_is(shared_database: None) -> None:
    """A row from an older version, or written by hand, never silences a chat for good."""
    await TelegramWindow.create(key=str(GROUP), times=[], paused_until=time.time() + 1e12)
    clock = RecordingClock()
    windows = instance(clock, per_second=30, window=60.0)
    turn = await windows._take(GROUP, 20)  # the wait its turn would sleep, not sleeping it
    assert 0 < turn.wait <= 3600


async def _paused(chat: int) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not await TelegramWindow.filter(key=str(chat), paused_until__gt=time.time()).exists():
        assert loop.time() < deadline, "the pause was never stored"
        await asyncio.sleep(0.01)


# End to end: three bot processes answer one group at once. Telegram's group limit scaled to a
# 3-second window so that it binds within the test; the fake answers 429 beyond it.
GROUP_LIMIT = 8
GROUP_WINDOW = 3.0
NOTES = 24


async def test_three_instances_answering_one_group_keep_its_limit_together(
    telegram: FakeTelegram, intron: FakeIntron, postgres_url: str, tmp_path: Path
) -> None:
    """Each instance alone would allow the group 8 messages a window, 24 for the three: the
    fake Telegram would then answer 429. Counted together, the group never gets more than 8.
    Intron holds the notes until all are uploaded, so that the instances have results for the
    group at the same moment, whatever the machine's speed."""
    telegram.limit_group_messages(GROUP_LIMIT, window_seconds=GROUP_WINDOW)
    intron.processing_seconds = 3600  # until every note is at Intron: then all at once
    async with instances(
        telegram,
        intron,
        postgres_url,
        tmp_path,
        TELEGRAM_GROUP_PER_MINUTE=str(GROUP_LIMIT),
        TELEGRAM_GROUP_WINDOW_SECONDS=str(GROUP_WINDOW),
    ) as bots:
        sent = [
            telegram.user_message(
                GROUP,
                user_id=300 + n,
                chat_type="group",
                voice=telegram.voice(fixture_bytes("voice_consultation.ogg")),
            )
            for n in range(NOTES)
        ]
        try:
            await intron.wait_for(lambda: len(intron.uploads) == NOTES, timeout=240)
            # Every instance has results for the group at the same moment.
            intron.finish()
            await telegram.wait_for(
                lambda: len(transcript_replies(telegram, GROUP)) >= NOTES, timeout=240
            )
        except AssertionError:
            raise AssertionError(await what_is_left(postgres_url, bots)) from None
        for bot in bots:
            assert await bot.stop() == 0

    answered = Counter(m.get("reply_to_message_id") for m in transcript_replies(telegram, GROUP))
    assert answered == Counter(m["message_id"] for m in sent), "each note answered once"
    assert telegram.flood_refusals == [], "the instances waited for the window, never a 429"
    assert telegram.max_messages_in_window(GROUP, GROUP_WINDOW) <= GROUP_LIMIT
    # The group did get its full share: more than one window's worth went out.
    assert len([c for c, _ in telegram.counted_messages if c == GROUP]) > GROUP_LIMIT


async def test_a_database_that_does_not_answer_holds_no_message_up(
    shared_database: None, postgres_url: str
) -> None:
    """Another session holds the bot's row locked: a turn would wait for it for ever. It waits
    the timeout instead, then the instance counts alone, and its messages go."""
    blocker = await asyncpg.connect(libpq_url(postgres_url))
    try:
        await TelegramWindow.create(key="*", times=[])
        locked = blocker.transaction()
        await locked.start()
        await blocker.execute("SELECT 1 FROM telegram_windows WHERE key = '*' FOR UPDATE")
        local = LocalWindows(per_second=30, window_seconds=60.0)
        windows = SharedWindows(local, per_second=30, window_seconds=60.0, timeout=0.5)

        async def three_messages() -> None:
            for chat, group_limit in ((1001, None), (1002, None), (GROUP, 20)):
                await windows.turn(chat, group_limit)

        await asyncio.wait_for(three_messages(), 30)  # hang protection only
        await locked.rollback()
    finally:
        await blocker.close()

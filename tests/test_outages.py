"""A dependency that goes away for a while (PostgreSQL stopped and started again, Telegram
answering 502 or dropping connections, Intron answering 503) is waited out with nothing lost,
and the log says so in a few lines: one when it goes, one when it is back, no traceback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests import postgres_server
from tests.conftest import (
    BotProcess,
    RunningBot,
    eventually,
    idle,
    make_config,
    send_voice,
    settings_env,
    transcript_replies,
)
from tests.fakes.intron_api import FakeIntron
from tests.fakes.telegram import FakeTelegram

CHAT = 8100
# How long PostgreSQL stays stopped once the bot has noticed: the scenario's length (the
# reminder a minute is tested on its own in test_loop.py), not a wait for anything.
POSTGRES_OUTAGE_SECONDS = 12.0


def outage_lines(text: str, dependency: str) -> tuple[list[str], list[str]]:
    """The lines telling `dependency` went away, and those telling it is back."""
    lines = text.splitlines()
    gone = [line for line in lines if f"{dependency} unavailable (" in line]
    back = [line for line in lines if re.search(rf"{dependency} back after \d+s", line)]
    return gone, back


# -- PostgreSQL, stopped and started again under a bot process ------------------------------


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A PostgreSQL server of this test's own, which it may stop (never the shared one)."""
    folder = tmp_path / "postgres"
    url = postgres_server.start(folder)
    try:
        yield folder, url
    finally:
        postgres_server.stop(folder)


@contextlib.asynccontextmanager
async def reading(bot: BotProcess) -> AsyncIterator[None]:
    """Read the process's output as it comes (into `bot.output`), so it never blocks on a full
    pipe while the test waits on something else."""
    assert bot.proc is not None and bot.proc.stdout is not None
    stdout = bot.proc.stdout

    async def read() -> None:
        while line := await stdout.readline():
            bot.output += line

    task = asyncio.create_task(read())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def logged(bot: BotProcess, text: str, *, within: float = 60.0) -> None:
    async def said() -> bool:
        return text.encode() in bot.output

    await eventually(said, what=f"the bot logging {text!r}", within=within)


@pytest.mark.postgres_only
async def test_a_postgresql_outage_is_a_few_lines_and_loses_no_note(
    telegram: FakeTelegram,
    intron: FakeIntron,
    tmp_path: Path,
    own_postgres: tuple[Path, str],
) -> None:
    folder, url = own_postgres
    bot = BotProcess(settings_env(telegram, intron, url, LOG_LEVEL="INFO"), cwd=tmp_path)
    await bot.start()
    try:
        async with reading(bot):
            await logged(bot, "bot started")
            send_voice(telegram, CHAT)
            await telegram.wait_for(lambda: bool(transcript_replies(telegram, CHAT)), timeout=60)
            started_at = len(bot.output)

            await asyncio.to_thread(postgres_server.halt, folder)
            await logged(bot, "database unavailable (")
            await asyncio.sleep(POSTGRES_OUTAGE_SECONDS)
            await asyncio.to_thread(postgres_server.resume, folder, url)
            await logged(bot, "database back after")

            send_voice(telegram, CHAT + 1)
            await telegram.wait_for(
                lambda: bool(transcript_replies(telegram, CHAT + 1)), timeout=60
            )

            async def nothing_left() -> bool:
                return await idle(telegram, url)

            await eventually(nothing_left, what="the bot done with both notes", within=60)
    finally:
        assert bot.proc is not None
        if bot.proc.returncode is None:
            bot.proc.terminate()
        await bot.wait(30)

    for chat in (CHAT, CHAT + 1):
        assert len(transcript_replies(telegram, chat)) == 1, chat
    during = bot.output[started_at:].decode()
    gone, back = outage_lines(during, "database")
    assert len(gone) == 1 and len(back) == 1, during
    assert "seconds" not in gone[0] and url not in during
    assert int(re.findall(r"back after (\d+)s", back[0])[0]) >= POSTGRES_OUTAGE_SECONDS
    assert "Traceback" not in during, during
    # A handful of lines in all: went away, the polling lock lost and taken again, back.
    noisy = [line for line in during.splitlines() if " WARNING " in line or " ERROR " in line]
    assert len(noisy) <= 4, during


# -- Telegram and Intron, away for a while under the bot in this event loop -------------------


def bot_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith(("bot", "handlers", "telegram"))]


def assert_one_outage(caplog: pytest.LogCaptureFixture, dependency: str) -> None:
    records = bot_records(caplog)
    text = "\n".join(r.getMessage() for r in records)
    gone, back = outage_lines(text, dependency)
    assert len(gone) == 1 and len(back) == 1, text
    assert [r.exc_info for r in records if r.exc_info] == [], text
    # The outage's lines, and nothing a job or a request says about it at WARNING or above.
    noisy = [r.getMessage() for r in records if r.levelno >= logging.WARNING]
    assert noisy == gone, text


@pytest.mark.parametrize("answer", [502, 0], ids=["502", "connection dropped"])
async def test_telegram_away_for_a_while_is_one_line_and_the_result_comes(
    telegram: FakeTelegram,
    intron: FakeIntron,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
    answer: int,
) -> None:
    intron.processing_seconds = 3600.0  # held at Intron until Telegram is down
    running = RunningBot(
        make_config(telegram, intron, database_url, delivery_retry_max_seconds=1.0)
    )
    await running.start()
    try:
        send_voice(telegram, CHAT)
        await intron.wait_for(lambda: bool(intron.uploads), timeout=30)
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="bot"):
            telegram.go_down(answer)
            intron.finish()
            # Away until the result was tried a few times, getUpdates all along.
            await telegram.wait_for(lambda: telegram.calls_while_down >= 8, timeout=60)
            telegram.come_back()
            await telegram.wait_for(lambda: bool(transcript_replies(telegram, CHAT)), timeout=60)
            await eventually(lambda: idle(telegram), what="the bot done with the note")
            await eventually(
                lambda: _logged(caplog, "Telegram back after"), what="Telegram back in the log"
            )
    finally:
        await running.stop()
    assert len(transcript_replies(telegram, CHAT)) == 1
    assert_one_outage(caplog, "Telegram")


async def test_intron_503ing_for_a_while_is_one_line_and_the_result_comes(
    telegram: FakeTelegram,
    intron: FakeIntron,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    running = RunningBot(make_config(telegram, intron, database_url))
    await running.start()
    caplog.clear()
    try:
        with caplog.at_level(logging.DEBUG, logger="bot"):
            intron.go_down(503)
            send_voice(telegram, CHAT)
            await intron.wait_for(
                lambda: sum(status == 503 for _, _, status in intron.calls) >= 3, timeout=60
            )
            intron.come_back()
            await telegram.wait_for(lambda: bool(transcript_replies(telegram, CHAT)), timeout=60)
            await eventually(lambda: idle(telegram), what="the bot done with the note")
    finally:
        await running.stop()
    assert len(transcript_replies(telegram, CHAT)) == 1
    assert len(intron.uploads) == 1
    assert_one_outage(caplog, "Intron")


async def _logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return any(text in r.getMessage() for r in caplog.records)

"""Benchmark: a voice note forwarded to many chats, answered from its first result or
transcribed again in every chat (the way without reuse), on loopback fakes.

Run from the project root: `python -m bench.forwarded` (`--help` for the options). For each
way, one chat sends a voice note and waits for its result; then the same note is forwarded to
`--copies` other chats one after the other, and each copy is timed from the forward to its
transcript. Intron takes `--processing` seconds per upload.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bot.chat.preferences import ChatPreferences, save_preferences
from bot.intron.options import TranscriptionOptions
from storage.models import Job, JobState
from tests.conftest import (
    RunningBot,
    eventually,
    make_config,
    send_voice,
    transcript_replies,
)
from tests.fakes.intron_api import FakeIntron
from tests.fakes.telegram import FakeTelegram

FIRST_CHAT = 1


async def one_way(*, reuse: bool, copies: int, processing: float) -> str:
    telegram, intron = FakeTelegram(), FakeIntron(processing_seconds=processing)
    await telegram.start()
    await intron.start()
    with tempfile.TemporaryDirectory() as folder:
        database = f"sqlite://{Path(folder) / 'bot.sqlite3'}"
        bot = RunningBot(make_config(telegram, intron, database))
        await bot.start()
        try:
            original = send_voice(telegram, FIRST_CHAT)
            await eventually(
                Job.filter(state=JobState.DELIVERED).exists, what="the original delivered"
            )
            chats = range(FIRST_CHAT + 1, FIRST_CHAT + 1 + copies)
            for chat in chats:
                prefs = ChatPreferences(TranscriptionOptions(), reuse_results=reuse)
                await save_preferences(chat, prefs)
            times = []
            for chat in chats:
                started = time.monotonic()
                telegram.user_message(chat, voice=telegram.forwarded(original["voice"]))
                await telegram.wait_for(
                    lambda chat=chat: bool(transcript_replies(telegram, chat)), timeout=120
                )
                times.append(time.monotonic() - started)
        finally:
            await bot.stop()
            await telegram.stop()
            await intron.stop()
    way = "reused" if reuse else "transcribed again"
    return (
        f"| {way} | {copies} | {len(intron.uploads) - 1} | {len(telegram.file_downloads) - 1} "
        f"| {statistics.median(times):.2f} | {max(times):.2f} |"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--processing", type=float, default=3.0, help="seconds at Intron")
    args = parser.parse_args()
    rows = [
        await one_way(reuse=reuse, copies=args.copies, processing=args.processing)
        for reuse in (True, False)
    ]
    print(f"Intron processing: {args.processing:.1f} s per upload")
    print("| copies | chats | their uploads | their downloads | median to result (s) | max (s) |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    asyncio.run(main())

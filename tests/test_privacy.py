"""/forget and retention leave nothing that names a patient or fetches their audio, and /forget
stops a chat's jobs in progress: nothing of theirs reaches the chat after it."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from tortoise import Tortoise, connections

from storage.models import Job, JobState
from tests.conftest import (
    RunningBot,
    fixture_bytes,
    replies_to,
    send_voice,
    texts,
    transcript_replies,
)
from tests.fakes.intron_api import FakeIntron
from tests.fakes.telegram import FakeTelegram
from tests.test_delivery import STATUS_MARKS, long_transcript
from tests.test_settings import press

CHAT = 9201
PATIENT_FILE = "Ada_Obi_follow_up.mp3"


async def stored_anywhere(needle: str) -> list[str]:
    """Every table (and column) of the bot's database holding `needle` anywhere."""
    found = []
    connection = connections.get("default")
    for model in Tortoise.apps["models"].values():
        table = model._meta.db_table
        for row in await connection.execute_query_dict(f'SELECT * FROM "{table}"'):
            found += [f"{table}.{column}" for column, v in row.items() if needle in str(v)]
    return found


async def forget(telegram: FakeTelegram, chat: int) -> None:
    telegram.user_message(chat, text="/forget")
    await telegram.wait_for(lambda: "Erase" in texts(telegram, chat)[-1])
    confirm = telegram.bot_messages(chat)[-1]
    await press(telegram, chat, confirm["message_id"], "Yes")
    await telegram.wait_for(lambda: "Erased" in texts(telegram, chat)[-1])


async def test_forget_during_a_job_stops_it_and_leaves_no_name_or_file_id(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    intron.processing_seconds = 1.0
    audio = telegram.audio(fixture_bytes("call_center.mp3"), file_name=PATIENT_FILE)
    sent = telegram.user_message(CHAT, audio=audio)
    await intron.wait_for(lambda: len(intron.uploads) == 1)
    intron_file_id = intron.uploads[0].file_id

    await forget(telegram, CHAT)
    assert "1 in progress, stopped" in texts(telegram, CHAT)[-1]
    erased_at = len(telegram.requests)
    await intron.wait_for(lambda: time.monotonic() >= intron.uploads[0].done_at)
    # Intron has finished: a later recording's answer shows the engine has polled since, so
    # a result of the stopped one would have been sent by now.
    send_voice(telegram, CHAT + 50)
    await telegram.wait_for(lambda: bool(transcript_replies(telegram, CHAT + 50)))

    after = [p for m, p in telegram.requests[erased_at:] if m.startswith(("send", "edit"))]
    assert [p for p in after if p.get("chat_id") == CHAT] == []
    assert transcript_replies(telegram, CHAT) == []
    assert [m for m in replies_to(telegram, CHAT, sent["message_id"]) if not m["deleted"]] == []
    for needle in (PATIENT_FILE, audio["file_id"], intron_file_id):
        assert await stored_anywhere(needle) == [], needle
    assert (await Job.get(chat_id=CHAT)).state == JobState.FAILED


async def test_forget_while_the_reply_is_being_sent_stops_it_before_the_next_part(
    telegram: FakeTelegram,
    intron: FakeIntron,
    bot: RunningBot,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Before anything runs: the stage's line is logged at INFO, which is otherwise dropped.
    caplog.set_level(logging.INFO, logger="bot.engine.scheduler")
    intron.transcript = long_transcript()
    audio = telegram.audio(fixture_bytes("call_center.mp3"), file_name=PATIENT_FILE)
    sent = telegram.user_message(CHAT, audio=audio)
    await intron.wait_for(lambda: len(intron.uploads) == 1)
    # The first part reaches the chat, but Telegram's answer is slow: the stage is waiting,
    # until the /forget below is done however long that takes (it was a fixed 2 s, which a
    # busy machine could spend on the /forget alone, letting the next part out before it).
    answer = telegram.answer_when_released("sendMessage")

    def parts() -> list[str]:
        return [
            m["text"]
            for m in replies_to(telegram, CHAT, sent["message_id"])
            if "text" in m and not m["text"].startswith(STATUS_MARKS)
        ]

    await telegram.wait_for(lambda: len(parts()) == 1, timeout=15)
    await forget(telegram, CHAT)
    answer.release()

    # The stage hears back from Telegram, then finds the job erased.
    await telegram.wait_for(
        lambda: any("erased by /forget" in r.getMessage() for r in caplog.records), timeout=15
    )
    # The stage has stopped: no later part can come from it.
    assert len(parts()) == 1, "nothing after /forget"
    assert not any("document" in m for m in telegram.bot_messages(CHAT))
    for needle in (PATIENT_FILE, audio["file_id"], intron.transcript[:40]):
        assert await stored_anywhere(needle) == [], needle


def files_holding(database_url: str, needles: tuple[str, ...]) -> dict[str, list[str]]:
    """Which of the SQLite database's files (the file, its write-ahead log, its shared memory)
    hold each needle, read byte by byte as a copied file would be."""
    database = Path(database_url.removeprefix("sqlite://"))
    files = [database, *database.parent.glob(database.name + "-*")]
    contents = {f.name: f.read_bytes() for f in files if f.exists()}
    return {
        needle: [name for name, data in contents.items() if needle.encode() in data]
        for needle in needles
        if any(needle.encode() in data for data in contents.values())
    }


async def test_database_files_hold_no_transcript_name_or_link_after_delivery_and_forget(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot, database_url: str
) -> None:
    """Read byte by byte, as a copied file would be: the SQLite file and its write-ahead log,
    once the results are delivered (sealed, docs/operations.md#encryption-at-rest) and again
    after /forget (erased). PostgreSQL's old row versions are VACUUM's, see docs/."""
    if not database_url.startswith("sqlite://"):
        pytest.skip("the files of a SQLite database")
    intron.transcript = "Mama Neema reports fever and a rash since Tuesday"
    link = "https://files.example.org/ward-7/Neema_Juma_visit.mp3"
    audio = telegram.audio(fixture_bytes("call_center.mp3"), file_name=PATIENT_FILE)
    telegram.user_message(CHAT, audio=audio, caption="Mama Neema, second visit")
    text = f"Recording: {link}"
    telegram.user_message(
        CHAT, text=text, entities=[{"type": "url", "offset": 11, "length": len(link)}]
    )
    await telegram.wait_for(lambda: len(transcript_replies(telegram, CHAT)) == 2)
    assert [u.fields.get("audio_file_url") for u in intron.uploads].count(link) == 1
    needles = (intron.transcript, "Mama Neema", PATIENT_FILE, "Neema_Juma", "files.example.org")
    # What the chat received is in the database, sealed: nothing of it in the clear.
    assert files_holding(database_url, needles) == {}

    await forget(telegram, CHAT)
    assert files_holding(database_url, needles) == {}


async def test_after_forget_the_database_files_hold_no_transcript_or_file_name(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot, database_url: str
) -> None:
    """Read byte by byte, as a copied file would be: the SQLite file and its write-ahead log
    (PostgreSQL's old row versions are VACUUM's, see docs/)."""
    if not database_url.startswith("sqlite://"):
        pytest.skip("the files of a SQLite database")
    intron.transcript = "Mama Neema reports fever and a rash since Tuesday"
    audio = telegram.audio(fixture_bytes("call_center.mp3"), file_name=PATIENT_FILE)
    telegram.user_message(CHAT, audio=audio)
    await telegram.wait_for(lambda: bool(transcript_replies(telegram, CHAT)))

    await forget(telegram, CHAT)

    database = Path(database_url.removeprefix("sqlite://"))
    files = [database, *database.parent.glob(database.name + "-*")]
    for needle in (intron.transcript, PATIENT_FILE, "Mama Neema"):
        holding = [f.name for f in files if f.exists() and needle.encode() in f.read_bytes()]
        assert holding == [], needle

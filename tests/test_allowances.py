"""Per-chat daily audio allowances and the longest recording, through the fakes: what a chat is
told, and what Intron never receives."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.conftest import (
    RunningBot,
    count_rows,
    fixture_bytes,
    send_command,
    texts,
    transcript_replies,
)
from tests.fakes.intron_api import FakeIntron
from tests.fakes.telegram import FakeTelegram
from tests.test_settings import press

CHAT = 9701
OTHER = 9702
ADMIN = 9799
NOTE_SECONDS = 7  # each voice note below says it is 7 s long
ALLOWANCE_MINUTES = 0.3  # 18 s: two notes fit, a third does not


@pytest.fixture
async def limited(bot_factory: Callable[..., RunningBot]) -> AsyncIterator[RunningBot]:
    running = bot_factory(
        chat_daily_audio_minutes=ALLOWANCE_MINUTES,
        max_recording_minutes=1,
        admin_user_ids=frozenset({ADMIN}),
    )
    await running.start()
    yield running
    await running.stop()


def voice_note(telegram: FakeTelegram, chat: int, *, seconds: int = NOTE_SECONDS) -> int:
    voice = telegram.voice(fixture_bytes("voice_consultation.ogg"), duration=seconds)
    return int(telegram.user_message(chat, voice=voice)["message_id"])


def answered(telegram: FakeTelegram, chat: int, message_id: int) -> bool:
    return bool(first_replies(telegram, chat, message_id))


def first_replies(telegram: FakeTelegram, chat: int, message_id: int) -> list[dict[str, Any]]:
    return [
        m
        for m in telegram.bot_messages(chat, include_deleted=True)
        if m.get("reply_to_message_id") == message_id
    ]


def answer_to(telegram: FakeTelegram, chat: int, message_id: int) -> str:
    """The first text of the bot's first reply: a "Received" is edited as the job goes on,
    and deleted once the result is there."""
    reply = first_replies(telegram, chat, message_id)[0]
    return str(telegram.history(chat, reply["message_id"])[0]["text"])


async def test_a_burst_stops_at_the_allowance_with_in_flight_notes_counted(
    telegram: FakeTelegram, intron: FakeIntron, limited: RunningBot
) -> None:
    intron.processing_seconds = 30.0  # nothing finishes while the burst arrives
    notes = [voice_note(telegram, CHAT) for _ in range(4)]
    await telegram.wait_for(lambda: all(answered(telegram, CHAT, m) for m in notes))

    answers = [answer_to(telegram, CHAT, m) for m in notes]
    assert all("Received" in a for a in answers[:2]), answers
    for refused in answers[2:]:
        assert "used its audio minutes for today" in refused
        assert "0.1 of 0.3 left" in refused and "midnight UTC" in refused
    await intron.wait_for(lambda: len(intron.uploads) == 2)

    # Another chat has its own allowance.
    other = voice_note(telegram, OTHER)
    await telegram.wait_for(lambda: answered(telegram, OTHER, other))
    assert "Received" in answer_to(telegram, OTHER, other)
    await intron.wait_for(lambda: len(intron.uploads) == 3)


async def test_an_operator_gives_one_chat_more_minutes_at_once(
    telegram: FakeTelegram, intron: FakeIntron, limited: RunningBot
) -> None:
    first, second = voice_note(telegram, CHAT), voice_note(telegram, CHAT)
    await telegram.wait_for(lambda: answered(telegram, CHAT, second))
    third = voice_note(telegram, CHAT)
    await telegram.wait_for(lambda: answered(telegram, CHAT, third))
    assert "used its audio minutes" in answer_to(telegram, CHAT, third)

    answer = await send_command(telegram, ADMIN, f"/allowance {CHAT} 5")
    assert f"Chat {CHAT}: 5 min a day" in answer[-1]["text"]
    fourth = voice_note(telegram, CHAT)
    await telegram.wait_for(lambda: answered(telegram, CHAT, fourth))
    assert "Received" in answer_to(telegram, CHAT, fourth)

    # The chat's answers arrive among its results: look for them, not at the last message.
    telegram.user_message(CHAT, text="/usage")
    await telegram.wait_for(
        lambda: any("of this chat's 5.0 audio minutes" in t for t in texts(telegram, CHAT))
    )
    # Only operators set allowances.
    telegram.user_message(CHAT, text=f"/allowance {CHAT} 500")
    await telegram.wait_for(
        lambda: any("is for the bot's operators" in t for t in texts(telegram, CHAT))
    )
    assert "Received" in answer_to(telegram, CHAT, first)


async def test_a_recording_over_the_longest_allowed_is_refused_before_any_download(
    telegram: FakeTelegram, intron: FakeIntron, limited: RunningBot
) -> None:
    long_note = voice_note(telegram, CHAT, seconds=150)
    await telegram.wait_for(lambda: answered(telegram, CHAT, long_note))
    assert "at most 1 minutes" in answer_to(telegram, CHAT, long_note)
    after = voice_note(telegram, CHAT)
    await intron.wait_for(lambda: len(intron.uploads) == 1)
    assert telegram.calls("getFile") and len(telegram.calls("getFile")) == 1
    assert "Received" in answer_to(telegram, CHAT, after)


async def test_an_output_asked_from_a_result_counts_against_the_allowance(
    telegram: FakeTelegram, intron: FakeIntron, limited: RunningBot
) -> None:
    notes = [voice_note(telegram, CHAT) for _ in range(2)]  # 14 of the 18 s
    await telegram.wait_for(lambda: len(transcript_replies(telegram, CHAT)) == 2)
    result = next(
        m for m in transcript_replies(telegram, CHAT) if m["reply_to_message_id"] == notes[0]
    )["message_id"]

    # A SOAP note is the same 7 s sent to Intron again: 21 s would go past the 18.
    await press(telegram, CHAT, result, "Telehealth")
    await press(telegram, CHAT, result, "SOAP note")
    await telegram.wait_for(
        lambda: any("used its audio minutes" in t for t in texts(telegram, CHAT))
    )
    [refusal] = [m for m in telegram.bot_messages(CHAT) if "used its audio minutes" in m["text"]]
    assert refusal["reply_to_message_id"] == notes[0]
    assert "0.1 of 0.3 left" in refusal["text"]
    assert len(intron.uploads) == 2
    assert await count_rows(limited.config.database_url, "jobs") == 2

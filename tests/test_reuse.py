"""Forwarded notes answered at once: a copy of audio already transcribed with the same options
is answered from that result, with no download and no upload, until that result is erased."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.chat.preferences import ChatPreferences, save_preferences
from handlers.audio import ALREADY_ANSWERED, RECEIVED_TEXT, REUSED_TEXT
from storage.models import Job, JobState
from tests.conftest import (
    RunningBot,
    eventually,
    send_command,
    send_voice,
    texts,
    transcript_replies,
)
from tests.fakes.intron_api import FakeIntron
from tests.fakes.telegram import FakeTelegram
from tests.test_privacy import forget
from tests.test_results import wait_delivered
from tests.test_settings import buttons, open_settings, press, press_data

CLINIC, TEAM, WARD = 9401, 9402, 9403


async def forward_and_wait(
    telegram: FakeTelegram, chat: int, original: dict[str, Any]
) -> dict[str, Any]:
    """A user forwards the voice note of `original` to `chat`; returns the transcript reply."""
    before = len(transcript_replies(telegram, chat))
    copy = telegram.user_message(
        chat,
        voice=telegram.forwarded(original["voice"]),
        forward_origin={"type": "hidden_user", "sender_user_name": "Patient", "date": 1},
    )
    await telegram.wait_for(lambda: len(transcript_replies(telegram, chat)) > before)
    reply = transcript_replies(telegram, chat)[-1]
    assert reply["reply_to_message_id"] == copy["message_id"]

    async def delivered() -> bool:  # its status message is deleted by then
        job = await Job.get_or_none(chat_id=chat, message_id=copy["message_id"])
        return job is not None and job.state == JobState.DELIVERED

    await eventually(delivered, what="the copy delivered")
    return reply


async def test_a_forwarded_copy_is_answered_with_no_upload_until_the_original_is_forgotten(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    original = send_voice(telegram, CLINIC)
    await wait_delivered(telegram)
    assert len(intron.uploads) == 1 and len(telegram.file_downloads) == 1

    copy_result = await forward_and_wait(telegram, TEAM, original)
    assert copy_result["text"] == transcript_replies(telegram, CLINIC)[0]["text"]
    assert len(intron.uploads) == 1, "no upload for the copy"
    assert len(telegram.file_downloads) == 1, "no download for the copy"
    status = telegram.bot_messages(TEAM, include_deleted=True)[0]
    assert telegram.history(TEAM, status["message_id"])[0]["text"] == REUSED_TEXT
    [usage] = await send_command(telegram, TEAM, "/usage")
    assert "0.0 audio minutes in 0 recordings" in usage["text"]
    assert "Answered from an earlier result: 1" in usage["text"]

    # Other options are another result: transcribed afresh.
    menu = await open_settings(telegram, TEAM)
    await press(telegram, TEAM, menu, "Speaker separation")
    diarized = await forward_and_wait(telegram, TEAM, original)
    assert len(intron.uploads) == 2 and "Speaker 2:" in diarized["text"]

    # Erased where it was transcribed: never reused again, in any chat.
    await forget(telegram, CLINIC)
    await forward_and_wait(telegram, WARD, original)
    assert len(intron.uploads) == 3
    assert len(telegram.file_downloads) == 3


async def test_a_chat_that_turns_reuse_off_gets_a_fresh_transcription(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    original = send_voice(telegram, CLINIC)
    await wait_delivered(telegram)
    menu = await open_settings(telegram, TEAM)
    answer = await press(telegram, TEAM, menu, "Forwarded copies")
    assert "transcribed again" in answer.get("text", "")
    await forward_and_wait(telegram, TEAM, original)
    assert len(intron.uploads) == 2


async def test_a_chat_that_turned_reuse_off_answers_no_other_chats_copies(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    menu = await open_settings(telegram, CLINIC)
    await press(telegram, CLINIC, menu, "Forwarded copies")
    original = send_voice(telegram, CLINIC)
    await wait_delivered(telegram)
    await forward_and_wait(telegram, TEAM, original)  # TEAM reuses; CLINIC does not share
    assert len(intron.uploads) == 2 and len(telegram.file_downloads) == 2
    status = telegram.bot_messages(TEAM, include_deleted=True)[0]
    assert telegram.history(TEAM, status["message_id"])[0]["text"] == RECEIVED_TEXT


async def test_a_source_that_stops_sharing_before_the_copy_is_answered_is_not_used(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    original = send_voice(telegram, CLINIC)
    await wait_delivered(telegram)
    # The copy's job is stored, marked to be answered from CLINIC's result, and waits for
    # its "Received" to be sent before it runs; CLINIC switches sharing off meanwhile.
    status_sent = telegram.hold("sendMessage")
    copy = telegram.user_message(TEAM, voice=telegram.forwarded(original["voice"]))

    async def marked_for_reuse() -> bool:
        job = await Job.get_or_none(chat_id=TEAM, message_id=copy["message_id"])
        return job is not None and job.reused_from is not None

    await eventually(marked_for_reuse, what="the copy's job marked to reuse CLINIC's result")
    await save_preferences(CLINIC, replace(ChatPreferences.default(), reuse_results=False))
    status_sent.release()
    await telegram.wait_for(lambda: bool(transcript_replies(telegram, TEAM)))
    assert len(intron.uploads) == 2, "transcribed afresh, not copied"


async def test_transcribe_on_a_note_already_answered_here_offers_the_result_again(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    original = send_voice(telegram, CLINIC)
    await wait_delivered(telegram)
    [offer] = await send_command(telegram, CLINIC, "/transcribe", reply_to=original["message_id"])
    assert offer["text"] == ALREADY_ANSWERED
    [button] = buttons(offer)
    await press_data(telegram, CLINIC, offer["message_id"], button["callback_data"])
    await telegram.wait_for(lambda: len(transcript_replies(telegram, CLINIC)) == 2)
    again = transcript_replies(telegram, CLINIC)[1]
    assert again["reply_to_message_id"] == original["message_id"]
    assert len(intron.uploads) == 1, "the resend comes from the stored result"
    assert not any("already transcribed or in progress" in t for t in texts(telegram, CLINIC))


async def test_a_result_erased_by_retention_is_never_reused(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    original = send_voice(telegram, CLINIC)
    await wait_delivered(telegram)
    await Job.filter(chat_id=CLINIC).update(finished_at=datetime.now(UTC) - timedelta(days=31))
    await bot.stop()
    await bot.start()  # the scheduler purges at start-up

    async def purged() -> bool:
        return (await Job.get(chat_id=CLINIC)).purged_at is not None

    await eventually(purged, what="retention purge")
    assert (await Job.get(chat_id=CLINIC)).file_unique_id is None
    await forward_and_wait(telegram, TEAM, original)
    assert len(intron.uploads) == 2

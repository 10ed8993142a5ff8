"""Short transcript-only notes through Intron's synchronous upload, and every way back to the
usual upload-then-poll path: each note still ends in exactly one transcript."""

from __future__ import annotations

import pytest

from tests.conftest import RunningBot, send_voice, transcript_replies
from tests.fakes.intron_api import FakeIntron
from tests.fakes.telegram import FakeTelegram

CHAT = 4242


def calls(intron: FakeIntron, endpoint: str) -> list[int]:
    """The HTTP status of every call to `endpoint`, in order."""
    return [code for name, _, code in intron.calls if name == endpoint]


async def one_transcript(telegram: FakeTelegram, message_id: int) -> None:
    await telegram.wait_for(lambda: len(transcript_replies(telegram, CHAT)) >= 1)
    [reply] = transcript_replies(telegram, CHAT)
    assert reply["reply_to_message_id"] == message_id


async def test_a_short_note_is_transcribed_without_polling(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    intron.sync_mode = "offered"
    intron.processing_seconds = 0.3
    sent = send_voice(telegram, CHAT)
    await one_transcript(telegram, sent["message_id"])
    assert calls(intron, "sync") == [200]
    assert calls(intron, "upload") == []
    assert calls(intron, "status") == []
    assert len(intron.uploads) == 1
    assert intron.uploads[0].fields["audio_file_name"] == "voice.ogg"


@pytest.mark.parametrize(("mode", "code"), [("missing", 404), ("not_allowed", 405)])
async def test_a_host_without_it_is_asked_once(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot, mode: str, code: int
) -> None:
    intron.sync_mode = mode
    first = send_voice(telegram, CHAT)
    await one_transcript(telegram, first["message_id"])
    second = send_voice(telegram, CHAT)
    await telegram.wait_for(lambda: len(transcript_replies(telegram, CHAT)) == 2)
    assert {r["reply_to_message_id"] for r in transcript_replies(telegram, CHAT)} == {
        first["message_id"],
        second["message_id"],
    }
    assert calls(intron, "sync") == [code]  # remembered: the second note went straight on
    assert calls(intron, "upload") == [200, 200]


async def test_a_job_intron_keeps_past_its_wait_is_polled_not_sent_again(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    intron.sync_mode = "offered"
    intron.sync_wait_seconds = 0.2
    intron.processing_seconds = 1.5
    sent = send_voice(telegram, CHAT)
    await one_transcript(telegram, sent["message_id"])
    assert calls(intron, "sync") == [408]
    assert calls(intron, "upload") == []  # the 408's file_id was polled: one job at Intron
    assert len(intron.uploads) == 1
    assert calls(intron, "status")[-1] == 200
    assert intron.status_calls_for(intron.uploads[0].file_id) == len(calls(intron, "status"))


async def test_audio_intron_finds_too_long_goes_the_usual_way(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    intron.sync_mode = "offered"
    intron.audio_seconds_for = lambda upload: 75.0  # Telegram said 7 s; Intron hears more
    sent = send_voice(telegram, CHAT)
    await one_transcript(telegram, sent["message_id"])
    assert calls(intron, "sync") == [400]
    assert calls(intron, "upload") == [200]
    assert len(intron.uploads) == 1


async def test_long_or_non_transcript_notes_never_try_it(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    intron.sync_mode = "offered"
    sent = telegram.user_message(CHAT, voice=telegram.voice(b"OggS" + b"\0" * 2000, duration=61))
    await one_transcript(telegram, sent["message_id"])
    assert calls(intron, "sync") == []
    assert calls(intron, "upload") == [200]

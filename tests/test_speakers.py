"""Speaker roles and names for diarized results: a role pair or typed names, applied to the
stored result with no new Intron job; a chat's default pair applied to every diarized result."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.render import render_results
from tests.conftest import RunningBot, replies_to, send_command, transcript_replies
from tests.fakes.intron_api import FakeIntron
from tests.fakes.telegram import FakeTelegram
from tests.test_more_outputs import labels, transcribed
from tests.test_settings import buttons, open_settings, press

CHAT = 9801


async def diarized_result(telegram: FakeTelegram) -> tuple[int, int]:
    menu = await open_settings(telegram, CHAT)
    await press(telegram, CHAT, menu, "Speaker separation")
    return await transcribed(telegram, CHAT)


def results_for(telegram: FakeTelegram, recording: int) -> list[dict[str, Any]]:
    return [m for m in replies_to(telegram, CHAT, recording) if "📝 Transcript" in m["text"]]


async def test_a_role_pair_names_the_speakers_of_the_stored_result_without_intron(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    recording, result = await diarized_result(telegram)
    assert "Speaker 1:" in results_for(telegram, recording)[0]["text"]
    calls = len(intron.calls)
    await press(telegram, CHAT, result, "Name the speakers")
    shown = labels(telegram, CHAT, result)
    assert "Clinician / Patient" in shown and "Patient / Clinician" in shown
    answer = await press(telegram, CHAT, result, "Clinician / Patient")
    assert "Clinician / Patient" in answer["text"]
    await telegram.wait_for(lambda: len(results_for(telegram, recording)) == 2)
    named = results_for(telegram, recording)[1]
    assert "Clinician: " in named["text"] and "Patient: " in named["text"]
    assert "Speaker 1" not in named["text"]
    assert buttons(named), "the result sent again has its buttons"
    assert len(intron.calls) == calls, "Intron was not asked anything"

    # Kept with the result: /history sends it with the names.
    [history] = await send_command(telegram, CHAT, "/history")
    await press(telegram, CHAT, history["message_id"], "Resend")
    await telegram.wait_for(lambda: len(results_for(telegram, recording)) == 3)
    assert "Clinician: " in results_for(telegram, recording)[2]["text"]


async def test_names_typed_in_a_reply_name_the_speakers(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    recording, result = await diarized_result(telegram)
    await press(telegram, CHAT, result, "Name the speakers")
    await press(telegram, CHAT, result, "Type their names")
    await telegram.wait_for(lambda: "✏️" in telegram.bot_messages(CHAT)[-1]["text"])
    prompt = telegram.bot_messages(CHAT)[-1]
    assert prompt["reply_to_message_id"] == recording
    telegram.user_message(CHAT, text="Dr Amina, Mama Neema", reply_to=prompt["message_id"])
    await telegram.wait_for(lambda: len(results_for(telegram, recording)) == 2)
    named = results_for(telegram, recording)[1]["text"]
    assert "Dr Amina: " in named and "Mama Neema: " in named
    assert len(intron.uploads) == 1

    # A reply with no names in it is answered, and changes nothing.
    [answer] = await send_command(telegram, CHAT, " , ;", reply_to=prompt["message_id"])
    assert "no names" in answer["text"]
    # Any other reply to the bot is not about names.
    [other] = await send_command(telegram, CHAT, "thanks", reply_to=result)
    assert "only transcribe audio" in other["text"]


async def test_a_chats_default_pair_names_every_diarized_result(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    telegram.set_language(CHAT, "fr")
    menu = await open_settings(telegram, CHAT)
    await press(telegram, CHAT, menu, "Séparation des locuteurs")
    await press(telegram, CHAT, menu, "Noms des locuteurs")
    answer = await press(telegram, CHAT, menu, "Agent / Client")
    assert "Agent / Client" in answer["text"]
    _, result_id = await transcribed(telegram, CHAT)
    [result] = [m for m in transcript_replies(telegram, CHAT) if m["message_id"] == result_id]
    assert result["text"].startswith("📝 Transcription")
    assert "Agent: " in result["text"] and "Client: " in result["text"]
    assert "Locuteur" not in result["text"]
    assert len(intron.uploads) == 1


def test_names_replace_the_numbers_in_the_order_the_speakers_first_speak() -> None:
    data = {"audio_transcript": "SPEAKER_07: Hello.\nSPEAKER_03: Hi.\nSPEAKER_09: And me."}
    report = render_results(
        data,
        audio_name="a.ogg",
        when=datetime(2026, 12, 1, tzinfo=UTC),
        speakers=("Dr Amina", "Neema"),
    )
    text = report.messages[0].text
    assert "Dr Amina: Hello." in text and "Neema: Hi." in text
    assert "Speaker 3: And me." in text, "a speaker without a name keeps their number"

"""More from a result without sending it again: the buttons under a delivered result ask for
another output of the same recording, as one new job answered in the same thread."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.chat.preferences import ChatPreferences, save_preferences
from bot.intron.options import TranscriptionOptions
from storage.models import Job, JobState
from tests.conftest import (
    RunningBot,
    count_rows,
    eventually,
    replies_to,
    send_command,
    send_voice,
    transcript_replies,
)
from tests.fakes.intron_api import FakeIntron
from tests.fakes.telegram import FakeTelegram
from tests.test_inbox import polling_bot, stop_process
from tests.test_links import send_links
from tests.test_results import wait_delivered
from tests.test_settings import ADMIN, GROUP, MEMBER, buttons, menu_message, press, press_data

CHAT = 9701


def labels(telegram: FakeTelegram, chat: int, message_id: int) -> list[str]:
    return [b["text"] for b in buttons(menu_message(telegram, chat, message_id))]


def data_of(telegram: FakeTelegram, chat: int, message_id: int, label: str) -> str:
    message = menu_message(telegram, chat, message_id)
    return next(b["callback_data"] for b in buttons(message) if label in b["text"])


def soap_notes(telegram: FakeTelegram, chat: int, recording: int) -> list[dict[str, Any]]:
    return [m for m in replies_to(telegram, chat, recording) if "🩺 SOAP note" in m["text"]]


async def transcribed(telegram: FakeTelegram, chat: int, **kw: Any) -> tuple[int, int]:
    """A voice note sent and its result delivered: (the recording, the result message)."""
    delivered = await Job.filter(state=JobState.DELIVERED).count()
    sent = send_voice(telegram, chat, **kw)
    await wait_delivered(telegram, delivered + 1)
    [result] = [
        m
        for m in transcript_replies(telegram, chat)
        if m["reply_to_message_id"] == sent["message_id"]
    ]
    return sent["message_id"], result["message_id"]


async def test_soap_note_from_a_transcript_only_result_is_one_new_upload_of_the_same_audio(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    recording, result = await transcribed(telegram, CHAT)
    # A transcript-only result offers the categories, a few and "More…".
    shown = labels(telegram, CHAT, result)
    assert "📂 Telehealth" in shown and "➕ More…" in shown and len(shown) == 4

    await press(telegram, CHAT, result, "Telehealth")
    assert "🩺 SOAP note" in labels(telegram, CHAT, result)
    soap = data_of(telegram, CHAT, result, "SOAP note")
    first = telegram.press_button(CHAT, result, soap)
    second = telegram.press_button(CHAT, result, soap)  # pressed twice, quickly
    await telegram.wait_for(lambda: {first, second} <= set(telegram.answered_callbacks))
    await telegram.wait_for(lambda: bool(soap_notes(telegram, CHAT, recording)))
    await wait_delivered(telegram, 2)

    assert len(intron.uploads) == 2, "one new upload, for both presses"
    again = intron.uploads[1]
    assert again.blob == intron.uploads[0].blob, "the same recording's bytes"
    assert again.fields["use_category"] == "file_category_telehealth"
    assert again.fields["get_soap_note"] == "TRUE"
    assert again.fields["get_summary"] == "FALSE"
    [note] = soap_notes(telegram, CHAT, recording)
    assert note["reply_to_message_id"] == recording
    assert await Job.filter(derived_from__isnull=False).count() == 1
    answers = [telegram.answered_callbacks[q].get("text", "") for q in (first, second)]
    assert any("asked for" in a for a in answers)
    assert any("already asked for" in a or "already sent" in a for a in answers)

    # The new result has buttons of its own; the SOAP note asked again is already there.
    answer = await press(telegram, CHAT, result, "SOAP note")
    assert "already sent" in answer["text"]
    [usage] = await send_command(telegram, CHAT, "/usage")
    assert "in 2 recordings" in usage["text"]


async def test_a_result_offers_the_outputs_of_the_chats_category_it_does_not_have(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    await save_preferences(
        CHAT, ChatPreferences(TranscriptionOptions(category="telehealth", flags=["summary"]))
    )
    recording, result = await transcribed(telegram, CHAT)
    shown = labels(telegram, CHAT, result)
    assert "📋 Summary" not in shown and "🩺 SOAP note" in shown and "➕ More…" in shown
    await press(telegram, CHAT, result, "More…")
    assert "📅 Follow-up instructions" in labels(telegram, CHAT, result)
    await press(telegram, CHAT, result, "ICD codes")
    await intron.wait_for(lambda: len(intron.uploads) == 2)
    fields = intron.uploads[1].fields
    assert fields["get_summary"] == fields["get_icd_codes"] == "TRUE"
    assert fields["get_soap_note"] == "FALSE"
    await wait_delivered(telegram, 2)
    icd = [m for m in replies_to(telegram, CHAT, recording) if "🏷 ICD codes" in m["text"]]
    assert len(icd) == 1


async def test_the_button_says_so_when_telegram_no_longer_serves_the_file(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    recording, result = await transcribed(telegram, CHAT)
    voice = telegram.message(CHAT, recording)
    assert voice is not None
    telegram.forget_file(voice["voice"]["file_id"])
    await press(telegram, CHAT, result, "Telehealth")
    answer = await press(telegram, CHAT, result, "SOAP note")
    assert answer.get("show_alert") and "no longer serves" in answer["text"]
    assert len(intron.uploads) == 1 and await Job.all().count() == 1


async def test_a_refused_keyboard_never_costs_the_result(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    # "Received", then the result: Telegram refuses the result's buttons once.
    telegram.fail_next("sendMessage", description="Bad Request: BUTTON_DATA_INVALID", after=1)
    sent = send_voice(telegram, CHAT)
    await wait_delivered(telegram)
    [result] = transcript_replies(telegram, CHAT)
    assert result["reply_to_message_id"] == sent["message_id"]
    assert not buttons(result), "sent again without its keyboard"
    assert [r for r in telegram.rejections if "BUTTON_DATA_INVALID" in r[2]]


async def test_in_groups_only_administrators_ask_for_more(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    telegram.set_admins(GROUP, {ADMIN})
    group = {"chat_type": "supergroup"}
    recording, result = await transcribed(telegram, GROUP, user_id=MEMBER, **group)
    answer = await press(telegram, GROUP, result, "Telehealth", user_id=MEMBER, **group)
    assert answer.get("show_alert") and "administrators" in answer["text"]
    await press(telegram, GROUP, result, "Telehealth", user_id=ADMIN, **group)
    await press(telegram, GROUP, result, "SOAP note", user_id=ADMIN, **group)
    await telegram.wait_for(lambda: bool(soap_notes(telegram, GROUP, recording)))


async def test_a_link_is_sent_to_intron_again_as_the_link(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    url = "https://recordings.example.org/consult.mp3"
    sent = send_links(telegram, CHAT, url)
    await wait_delivered(telegram)
    [result] = transcript_replies(telegram, CHAT)
    await press(telegram, CHAT, result["message_id"], "Telehealth")
    await press(telegram, CHAT, result["message_id"], "SOAP note")
    await telegram.wait_for(lambda: bool(soap_notes(telegram, CHAT, sent["message_id"])))
    assert [u.fields["audio_file_url"] for u in intron.uploads] == [url, url]
    assert telegram.file_downloads == []


async def test_a_press_cut_short_by_kill_9_makes_one_job_after_the_restart(
    telegram: FakeTelegram, intron: FakeIntron, tmp_path: Path, database_url: str
) -> None:
    first = await polling_bot(telegram, intron, database_url, tmp_path)
    sent = send_voice(telegram, CHAT)
    await telegram.wait_for(lambda: bool(transcript_replies(telegram, CHAT)))
    [result] = transcript_replies(telegram, CHAT)
    await press(telegram, CHAT, result["message_id"], "Telehealth")
    soap = data_of(telegram, CHAT, result["message_id"], "SOAP note")
    # The press makes its job and is sending its status message when the bot is killed: the
    # update is not marked handled, so the restarted bot handles it again.
    status = telegram.hold("sendMessage")
    telegram.press_button(CHAT, result["message_id"], soap)
    await telegram.wait_for(
        lambda: any("SOAP note" in p.get("text", "") for p in telegram.calls("sendMessage"))
    )
    assert await count_rows(database_url, "jobs", "derived_from IS NOT NULL") == 1
    assert first.proc is not None
    first.proc.kill()
    await first.wait(15)
    status.drop()

    second = await polling_bot(telegram, intron, database_url, tmp_path)
    try:
        await telegram.wait_for(lambda: bool(soap_notes(telegram, CHAT, sent["message_id"])))

        async def delivered() -> bool:
            return await count_rows(database_url, "jobs", f"state = '{JobState.DELIVERED}'") == 2

        await eventually(delivered, what="the original and the SOAP note delivered")
    finally:
        await stop_process(second)
    assert await count_rows(database_url, "jobs", "derived_from IS NOT NULL") == 1
    assert len(intron.uploads) == 2
    assert len(soap_notes(telegram, CHAT, sent["message_id"])) == 1


async def test_old_or_forged_button_data_never_asks_for_anything(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    _, theirs = await transcribed(telegram, CHAT + 1)
    other_job = (await Job.get(chat_id=CHAT + 1)).id
    _, result = await transcribed(telegram, CHAT)
    job = (await Job.get(chat_id=CHAT)).id
    for data, says in (
        ("res:x", "expired"),
        (f"res:{job}:out:telehealth:99", "expired"),
        (f"res:{job}:out:martian:1", "expired"),
        (f"res:{job}:role:doctor_nurse", "expired"),
        (f"res:{job}:out:telehealth:1:extra", "expired"),
        (f"res:{other_job}:out:telehealth:1", "no longer stored"),  # another chat's result
        (f"res:{job}:spk", ""),  # not diarized: nothing to name, nothing done
    ):
        answer = await press_data(telegram, CHAT, result, data)
        assert says in answer.get("text", ""), data
    assert len(intron.uploads) == 2 and await Job.all().count() == 2
    assert labels(telegram, CHAT + 1, theirs), "the other chat's buttons are untouched"

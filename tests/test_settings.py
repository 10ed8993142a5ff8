"""Per-chat settings chosen with buttons, and what Intron then receives."""

from __future__ import annotations

from typing import Any

from tests.conftest import (
    RunningBot,
    eventually,
    fixture_bytes,
    idle,
    replies_to,
    send_command,
    send_voice,
    texts,
    transcript_replies,
)
from tests.fakes.intron_api import FakeIntron
from tests.fakes.telegram import FakeTelegram

CHAT = 3001
GROUP = -1003001
ADMIN, MEMBER = 11, 22


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    markup = message.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


async def open_settings(
    telegram: FakeTelegram, chat: int, *, user_id: int | None = None, chat_type: str = "private"
) -> int:
    replies = await send_command(telegram, chat, "/settings", user_id=user_id, chat_type=chat_type)
    menu = replies[-1]
    assert buttons(menu), "the settings reply carries an inline keyboard"
    return menu["message_id"]


def menu_message(telegram: FakeTelegram, chat: int, message_id: int) -> dict[str, Any]:
    return next(m for m in telegram.bot_messages(chat) if m["message_id"] == message_id)


async def press(
    telegram: FakeTelegram,
    chat: int,
    message_id: int,
    label: str,
    *,
    user_id: int | None = None,
    chat_type: str = "private",
) -> dict[str, Any]:
    """Press the button whose label contains `label`; return how the query was answered."""
    message = menu_message(telegram, chat, message_id)
    matching = [b for b in buttons(message) if label in b["text"]]
    assert matching, f"no button {label!r} in {[b['text'] for b in buttons(message)]}"
    data = matching[0]["callback_data"]
    assert 1 <= len(data.encode()) <= 64
    return await press_data(telegram, chat, message_id, data, user_id=user_id, chat_type=chat_type)


async def press_data(
    telegram: FakeTelegram,
    chat: int,
    message_id: int,
    data: str,
    *,
    user_id: int | None = None,
    chat_type: str = "private",
) -> dict[str, Any]:
    query_id = telegram.press_button(chat, message_id, data, user_id=user_id, chat_type=chat_type)
    await telegram.wait_for(lambda: query_id in telegram.answered_callbacks)
    return telegram.answered_callbacks[query_id]


async def send_voice_and_wait(
    telegram: FakeTelegram, intron: FakeIntron, chat: int, **kw: Any
) -> dict[str, Any]:
    count = len(intron.uploads)
    sent = send_voice(telegram, chat, **kw)
    await telegram.wait_for(lambda: bool(_transcripts_for(telegram, chat, sent["message_id"])))
    assert len(intron.uploads) == count + 1
    return sent


def _transcripts_for(telegram: FakeTelegram, chat: int, message_id: int) -> list[dict[str, Any]]:
    return [
        m for m in replies_to(telegram, chat, message_id) if "📝 Transcript" in m.get("text", "")
    ]


async def test_telehealth_soap_note_and_summary_reach_intron_and_the_chat(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    menu = await open_settings(telegram, CHAT)
    await press(telegram, CHAT, menu, "Category")
    await press(telegram, CHAT, menu, "Telehealth")
    await press(telegram, CHAT, menu, "Outputs")
    assert "✅ Summary" in [b["text"] for b in buttons(menu_message(telegram, CHAT, menu))]
    answer = await press(telegram, CHAT, menu, "SOAP note")
    assert "SOAP note: on" in answer.get("text", "")
    await press(telegram, CHAT, menu, "Back")
    await press(telegram, CHAT, menu, "Done")
    closed = menu_message(telegram, CHAT, menu)
    assert not buttons(closed)
    assert "Telehealth" in closed["text"] and "SOAP note" in closed["text"]

    intron.results["soap_note"] = "**S:** headache\n**O:** afebrile"
    await send_voice_and_wait(telegram, intron, CHAT)
    fields = intron.uploads[-1].fields
    assert fields["use_category"] == "file_category_telehealth"
    assert fields["get_soap_note"] == "TRUE"
    assert fields["get_summary"] == "TRUE"
    assert fields["get_clerking"] == "FALSE"
    assert "use_diarization" not in fields and "use_language_asr_input" not in fields
    chat_text = "\n".join(texts(telegram, CHAT))
    assert "🩺 SOAP note" in chat_text and "S: headache" in chat_text
    assert "📋 Summary" in chat_text and "summary for voice.ogg" in chat_text


async def test_follow_up_instructions_come_as_their_own_message_after_the_note(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    telegram.set_language(CHAT, "fr")
    menu = await open_settings(telegram, CHAT)
    await press(telegram, CHAT, menu, "Catégorie")
    await press(telegram, CHAT, menu, "Téléconsultation")
    await press(telegram, CHAT, menu, "Résultats")
    await press(telegram, CHAT, menu, "Consignes de suivi")
    intron.results["followup_instructions"] = "Drink water. Come back in **two weeks**."
    sent = send_voice(telegram, CHAT)

    def answer() -> list[str]:  # the status message is gone once the answer is all there
        return [m["text"][:1] for m in replies_to(telegram, CHAT, sent["message_id"])]

    await telegram.wait_for(lambda: answer() == ["📝", "📅"])
    note, instructions = replies_to(telegram, CHAT, sent["message_id"])
    assert note["text"].startswith("📝 Transcription") and "📋 Résumé" in note["text"]
    assert "Drink water" not in note["text"]
    # Short, under a heading in the chat's language, and nothing else: forwarded as it is.
    assert instructions["text"] == "📅 Consignes de suivi\nDrink water. Come back in two weeks."
    assert "reply_markup" not in instructions
    assert intron.uploads[-1].fields["get_followup_instructions"] == "TRUE"


async def test_call_center_results_and_agent_score(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    menu = await open_settings(telegram, CHAT)
    await press(telegram, CHAT, menu, "Category")
    await press(telegram, CHAT, menu, "Call center")
    await press(telegram, CHAT, menu, "Outputs")
    await press(telegram, CHAT, menu, "Call result")
    await press(
        telegram, CHAT, menu, "Agent score"
    )  # first match: "Agent score", not "...category"
    await send_voice_and_wait(telegram, intron, CHAT)
    fields = intron.uploads[-1].fields
    assert fields["use_category"] == "file_category_call_center"
    assert fields["get_call_center_results"] == "TRUE"
    assert fields["get_call_center_agent_score"] == "TRUE"
    assert fields["get_summary"] == "TRUE"
    assert fields["get_call_center_product_insights"] == "FALSE"
    chat_text = "\n".join(texts(telegram, CHAT))
    assert "📞 Call result" in chat_text and "⭐ Agent score" in chat_text


async def test_diarization_and_language_are_sent_and_turns_rendered(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    menu = await open_settings(telegram, CHAT)
    answer = await press(telegram, CHAT, menu, "Speaker separation")
    assert "on" in answer.get("text", "")
    await press(telegram, CHAT, menu, "Spoken language")
    await press(telegram, CHAT, menu, "Next")
    await press(telegram, CHAT, menu, "Previous")
    await press(telegram, CHAT, menu, "Yoruba")
    await send_voice_and_wait(telegram, intron, CHAT)
    fields = intron.uploads[-1].fields
    assert fields["use_diarization"] == "TRUE"
    assert fields["use_language_asr_input"] == "yo"
    assert "use_category" not in fields
    reply = transcript_replies(telegram, CHAT)[-1]
    assert "Speaker 1:" in reply["text"] and "Speaker 2:" in reply["text"]


async def test_settings_survive_restart_and_stay_in_their_chat(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    menu = await open_settings(telegram, CHAT)
    await press(telegram, CHAT, menu, "Category")
    await press(telegram, CHAT, menu, "Telehealth")
    other = CHAT + 1
    menu_b = await open_settings(telegram, other)
    await press(telegram, other, menu_b, "Category")
    await press(telegram, other, menu_b, "Call center")

    await bot.stop()
    await bot.start()

    await send_voice_and_wait(telegram, intron, CHAT)
    assert intron.uploads[-1].fields["use_category"] == "file_category_telehealth"
    await send_voice_and_wait(telegram, intron, other)
    assert intron.uploads[-1].fields["use_category"] == "file_category_call_center"
    third = CHAT + 2
    await send_voice_and_wait(telegram, intron, third)
    assert intron.uploads[-1].fields == {"audio_file_name": "voice.ogg"}


async def test_old_menu_acts_on_current_settings_and_bad_data_never_crashes(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    old = await open_settings(telegram, CHAT)
    await press(telegram, CHAT, old, "Category")  # old menu now shows the category list
    new = await open_settings(telegram, CHAT)
    await press(telegram, CHAT, new, "Category")
    await press(telegram, CHAT, new, "Procedure")
    await press(telegram, CHAT, new, "Outputs")
    # A button from the old message for a flag Procedure does not have:
    answer = await press_data(telegram, CHAT, old, "set:flag:soap_note")
    assert "no longer available" in answer.get("text", "")
    answer = await press_data(telegram, CHAT, old, "set:cat:martian")
    assert answer.get("show_alert") and "expired" in answer["text"]
    answer = await press_data(telegram, CHAT, old, "set:lang:99")
    assert "expired" in answer["text"]
    answer = await press_data(telegram, CHAT, old, "zzz")
    assert "expired" in answer["text"]
    # The bot is still fine and the settings are what the new menu chose.
    await send_voice_and_wait(telegram, intron, CHAT)
    assert intron.uploads[-1].fields["use_category"] == "file_category_procedure"


async def test_group_non_admin_is_refused_and_on_request_mode(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    telegram.set_admins(GROUP, {ADMIN})
    group = {"chat_type": "supergroup"}
    menu = await open_settings(telegram, GROUP, user_id=MEMBER, **group)
    answer = await press(telegram, GROUP, menu, "Transcribe:", user_id=MEMBER, **group)
    assert answer.get("show_alert") and "administrators" in answer["text"]

    answer = await press(telegram, GROUP, menu, "Transcribe:", user_id=ADMIN, **group)
    assert "Only on /transcribe" in answer.get("text", "")

    voice = telegram.user_message(
        GROUP,
        user_id=MEMBER,
        voice=telegram.voice(fixture_bytes("voice_consultation.ogg")),
        **group,
    )
    telegram.user_message(
        GROUP, user_id=MEMBER, text="/transcribe", reply_to=voice["message_id"], **group
    )
    await telegram.wait_for(lambda: bool(_transcripts_for(telegram, GROUP, voice["message_id"])))
    # The group's updates are handled in order: had the voice note been transcribed on its
    # own, /transcribe would have found its job and answered "already ... in progress".
    assert not [t for t in texts(telegram, GROUP) if "already" in t]
    assert len(intron.uploads) == 1 and len(telegram.file_downloads) == 1


async def test_group_help_explains_privacy_mode(telegram: FakeTelegram, bot: RunningBot) -> None:
    telegram.user_message(GROUP, user_id=MEMBER, text="/help", chat_type="group")
    await telegram.wait_for(lambda: bool(telegram.bot_messages(GROUP)))
    assert "privacy mode" in texts(telegram, GROUP)[-1]


async def test_commands_registered_and_unknown_command_points_to_help(
    telegram: FakeTelegram, bot: RunningBot
) -> None:
    await telegram.wait_for(lambda: bool(telegram.my_commands))  # published at start-up
    registered = {c["command"] for c in telegram.my_commands}
    assert {"start", "help", "settings", "transcribe", "history", "usage", "forget"} <= registered
    telegram.user_message(CHAT, text="/frobnicate")
    telegram.user_message(CHAT, text="/start")
    await telegram.wait_for(lambda: len(telegram.bot_messages(CHAT)) >= 2)
    all_text = "\n".join(texts(telegram, CHAT))
    assert "/help" in all_text
    assert "Category: Transcript only" in all_text


async def test_chat_outside_allowed_list_gets_its_id_and_nothing_is_fetched(
    telegram: FakeTelegram, intron: FakeIntron, bot_factory: Any
) -> None:
    running = bot_factory(allowed_chat_ids=frozenset({CHAT}))
    await running.start()
    try:
        stranger = 777
        telegram.user_message(
            stranger, voice=telegram.voice(fixture_bytes("voice_consultation.ogg"))
        )
        await telegram.wait_for(lambda: bool(telegram.bot_messages(stranger)))
        [refusal] = texts(telegram, stranger)
        assert str(stranger) in refusal
        await send_voice_and_wait(telegram, intron, CHAT)
        assert len(intron.uploads) == 1  # only the allowed chat's
        assert len(telegram.file_downloads) == 1
    finally:
        await running.stop()


async def test_group_outside_allowed_list_is_told_once(
    telegram: FakeTelegram, intron: FakeIntron, bot_factory: Any
) -> None:
    running = bot_factory(allowed_chat_ids=frozenset({CHAT}))
    await running.start()
    try:
        voice = fixture_bytes("voice_consultation.ogg")
        for user in (MEMBER, ADMIN, MEMBER):
            telegram.user_message(
                GROUP, user_id=user, chat_type="group", voice=telegram.voice(voice)
            )
        await telegram.wait_for(lambda: bool(telegram.bot_messages(GROUP)))
        # All three voice notes handled: a second refusal would have been sent.
        await eventually(lambda: idle(telegram), what="nothing left to do")
        [refusal] = texts(telegram, GROUP)
        assert str(GROUP) in refusal
        assert intron.uploads == [] and telegram.file_downloads == []
    finally:
        await running.stop()


async def test_quick_taps_are_all_applied_in_order(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    menu = await open_settings(telegram, CHAT)
    await press(telegram, CHAT, menu, "Category")
    await press(telegram, CHAT, menu, "Telehealth")
    await press(telegram, CHAT, menu, "Outputs")
    taps = [
        telegram.press_button(CHAT, menu, f"set:flag:{flag}")
        for flag in ("soap_note", "clerking", "icd_codes", "clerking")
    ]
    await telegram.wait_for(lambda: all(q in telegram.answered_callbacks for q in taps))
    await send_voice_and_wait(telegram, intron, CHAT)
    fields = intron.uploads[-1].fields
    assert fields["get_soap_note"] == fields["get_icd_codes"] == "TRUE"
    assert fields["get_clerking"] == "FALSE"  # switched on, then off again

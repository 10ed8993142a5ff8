"""Groups: other bots' commands, per-role command menus, upgrades to supergroups, forum topics."""

from __future__ import annotations

from typing import Any

from bot.chat.preferences import ChatPreferences, load_preferences, save_preferences
from bot.intron.options import TranscriptionOptions
from storage.models import JobState
from tests.conftest import (
    RunningBot,
    command_menus,
    eventually,
    fixture_bytes,
    idle,
    replies_to,
    send_voice,
    texts,
    transcript_replies,
)
from tests.fakes.intron_api import FakeIntron
from tests.fakes.telegram import FakeTelegram
from tests.test_delivery import has_state
from tests.test_settings import open_settings, press

GROUP = -5001  # a basic group, as groups start out
FORUM = -1005002
ADMIN, MEMBER = 11, 22
TOPIC = 77


def names(commands: list[dict[str, Any]]) -> set[str]:
    return {c["command"] for c in commands}


async def test_commands_for_other_bots_get_no_answer_and_ours_work_with_our_name(
    telegram: FakeTelegram, bot: RunningBot
) -> None:
    group = {"chat_type": "supergroup", "user_id": MEMBER}
    for text in (
        "/start@OtherHelperBot",
        "/settings@OtherHelperBot",
        "/frobnicate@OtherHelperBot",
        "/frobnicate",  # in a group a bare command may be another bot's
    ):
        telegram.user_message(FORUM, text=text, **group)
    telegram.user_message(FORUM, text="/help@intron_test_bot", **group)
    await telegram.wait_for(lambda: bool(telegram.bot_messages(FORUM)))
    telegram.user_message(FORUM, text="/settings@Intron_Test_Bot", **group)
    telegram.user_message(FORUM, text="/frobnicate@intron_test_bot", **group)
    await telegram.wait_for(lambda: len(telegram.bot_messages(FORUM)) == 3)
    # Every update handled: a late answer to another bot's command would be here.
    await eventually(lambda: idle(telegram), what="nothing left to do")
    help_text, settings, unknown = texts(telegram, FORUM)
    assert "/transcribe" in help_text
    assert "Category" in settings
    assert "I don't know that command" in unknown
    assert len(telegram.bot_messages(FORUM)) == 3


async def test_group_members_see_only_the_commands_they_may_use(
    telegram: FakeTelegram, bot: RunningBot
) -> None:
    admins_scope = {"type": "all_chat_administrators"}
    # Every menu, not one scope's: the order start-up publishes them in is its own business.
    await command_menus(telegram)
    everything = {
        "start",
        "settings",
        "transcribe",
        "history",
        "usage",
        "forget",
        "privacy",
        "help",
    }
    assert names(telegram.my_commands) == everything  # private chats
    assert names(telegram.commands_for(admins_scope)) == everything
    members = names(telegram.commands_for({"type": "all_group_chats"}))
    assert members == everything - {"settings", "forget"}


async def choose_on_request(telegram: FakeTelegram, chat: int) -> None:
    menu = await open_settings(telegram, chat, user_id=ADMIN, chat_type="group")
    answer = await press(telegram, chat, menu, "Transcribe:", user_id=ADMIN, chat_type="group")
    assert "Only on /transcribe" in answer.get("text", "")


def transcribe_on_request(telegram: FakeTelegram, chat: int, chat_type: str) -> dict[str, Any]:
    """A member sends a voice note and replies /transcribe to it."""
    voice = send_voice(telegram, chat, user_id=MEMBER, chat_type=chat_type)
    telegram.user_message(
        chat, user_id=MEMBER, chat_type=chat_type, text="/transcribe", reply_to=voice["message_id"]
    )
    return voice


async def test_group_upgraded_mid_job_gets_its_result_and_keeps_its_choices(
    telegram: FakeTelegram, intron: FakeIntron, bot_factory: Any
) -> None:
    running = bot_factory(allowed_chat_ids=frozenset({GROUP}))
    await running.start()
    try:
        telegram.set_admins(GROUP, {ADMIN})
        await choose_on_request(telegram, GROUP)
        intron.processing_seconds = 1.0
        transcribe_on_request(telegram, GROUP, "group")
        await intron.wait_for(lambda: len(intron.uploads) == 1)
        new = telegram.migrate_chat(GROUP)  # both chats get Telegram's notice

        await telegram.wait_for(lambda: bool(transcript_replies(telegram, new)), timeout=20)
        [result] = transcript_replies(telegram, new)
        assert intron.transcript in result["text"]

        # Still "only on /transcribe", and still allowed, under the new id.
        again = transcribe_on_request(telegram, new, "supergroup")
        await telegram.wait_for(
            lambda: any(
                "📝 Transcript" in m.get("text", "")
                for m in replies_to(telegram, new, again["message_id"])
            ),
            timeout=20,
        )
        assert len(intron.uploads) == 2, "the voice note alone was not transcribed"
        assert not any("approved chats" in t for t in texts(telegram, new))
    finally:
        await running.stop()


async def test_upgrade_learned_from_a_refused_send_moves_result_and_settings(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    options = TranscriptionOptions(category="telehealth", flags=["summary"])
    await save_preferences(GROUP, ChatPreferences(options, reuse_results=False))
    intron.processing_seconds = 1.0
    send_voice(telegram, GROUP, user_id=MEMBER, chat_type="group")
    await intron.wait_for(lambda: len(intron.uploads) == 1)
    new = telegram.migrate_chat(GROUP, notify=False)  # the bot hears of it only when refused

    await telegram.wait_for(lambda: bool(transcript_replies(telegram, new)), timeout=20)
    assert "📋 Summary" in "\n".join(texts(telegram, new))
    moved = await load_preferences(new)
    assert moved.options.category == "telehealth"
    assert not moved.reuse_results, "still shares no results after the upgrade"
    refused_sends = [r for r in telegram.rejections if r[0] == "sendMessage" and "upgraded" in r[2]]
    assert len(refused_sends) == 1  # learned once; the rest went straight to the new id

    await eventually(lambda: has_state(GROUP, JobState.DELIVERED), what="delivery")
    telegram.user_message(new, user_id=MEMBER, chat_type="supergroup", text="/history")
    await telegram.wait_for(lambda: "Recent recordings" in texts(telegram, new)[-1])
    assert "delivered" in texts(telegram, new)[-1]


async def test_result_goes_to_the_topic_of_a_deleted_voice_note(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    intron.processing_seconds = 1.0
    voice = send_voice(telegram, FORUM, user_id=MEMBER, chat_type="supergroup", topic=TOPIC)
    await intron.wait_for(lambda: len(intron.uploads) == 1)
    [status] = replies_to(telegram, FORUM, voice["message_id"])
    assert status["message_thread_id"] == TOPIC
    telegram.delete_user_message(FORUM, voice["message_id"])

    await telegram.wait_for(lambda: bool(transcript_replies(telegram, FORUM)), timeout=15)
    [result] = transcript_replies(telegram, FORUM)
    assert result["reply_to_message_id"] is None  # the original is gone
    assert result["message_thread_id"] == TOPIC


async def test_result_of_a_closed_topic_still_reaches_the_chat(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    intron.processing_seconds = 1.0
    voice = telegram.user_message(
        FORUM,
        user_id=MEMBER,
        chat_type="supergroup",
        topic=TOPIC,
        voice=telegram.voice(fixture_bytes("voice_consultation.ogg")),
    )
    await intron.wait_for(lambda: len(intron.uploads) == 1)
    telegram.delete_user_message(FORUM, voice["message_id"])
    telegram.delete_topic(FORUM, TOPIC)

    await telegram.wait_for(lambda: bool(transcript_replies(telegram, FORUM)), timeout=15)
    [result] = transcript_replies(telegram, FORUM)
    assert result.get("message_thread_id") is None

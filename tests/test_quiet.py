"""Quiet chats: results and failures only, no "Received" and no progress messages."""

from __future__ import annotations

from typing import Any

from tests.conftest import RunningBot, replies_to, send_voice, texts
from tests.fakes.intron_api import FakeIntron
from tests.fakes.telegram import FakeTelegram
from tests.test_settings import ADMIN, GROUP, open_settings, press

CHAT = 9601


async def make_quiet(telegram: FakeTelegram, chat: int, **who: Any) -> None:
    menu = await open_settings(telegram, chat, **who)
    answer = await press(telegram, chat, menu, "progress messages", **who)
    assert "Quiet" in answer.get("text", "")


def chat_requests(telegram: FakeTelegram, method: str, chat: int) -> list[dict[str, Any]]:
    return [p for p in telegram.calls(method) if str(p.get("chat_id")) == str(chat)]


async def test_a_quiet_chat_receives_only_the_result_threaded_to_the_recording(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    await make_quiet(telegram, CHAT)
    settings_messages = len(chat_requests(telegram, "sendMessage", CHAT))
    sent = send_voice(telegram, CHAT)
    await telegram.wait_for(
        lambda: any(
            "📝 Transcript" in m.get("text", "")
            for m in replies_to(telegram, CHAT, sent["message_id"])
        )
    )
    [result] = replies_to(telegram, CHAT, sent["message_id"])
    assert intron.transcript in result["text"]
    # Nothing else was ever sent for the recording: no "Received", no progress edits, no typing.
    assert len(chat_requests(telegram, "sendMessage", CHAT)) == settings_messages + 1
    assert not [p for p in chat_requests(telegram, "editMessageText", CHAT) if "⏳" in p["text"]]
    assert not chat_requests(telegram, "sendChatAction", CHAT)
    assert not [t for t in texts(telegram, CHAT) if "Received" in t]


async def test_a_quiet_chat_still_hears_of_a_failure(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    await make_quiet(telegram, CHAT)
    intron.fail_processing.add("voice.ogg")
    sent = send_voice(telegram, CHAT)
    await telegram.wait_for(lambda: bool(replies_to(telegram, CHAT, sent["message_id"])))
    [failure] = replies_to(telegram, CHAT, sent["message_id"])
    assert "could not transcribe" in failure["text"]


async def test_a_quiet_group_gets_only_the_result(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    telegram.set_admins(GROUP, {ADMIN})
    group = {"chat_type": "supergroup"}
    await make_quiet(telegram, GROUP, user_id=ADMIN, **group)
    sent = send_voice(telegram, GROUP, user_id=ADMIN + 1, **group)
    await telegram.wait_for(lambda: bool(replies_to(telegram, GROUP, sent["message_id"])))
    [result] = replies_to(telegram, GROUP, sent["message_id"])
    assert "📝 Transcript" in result["text"]
    assert not [t for t in texts(telegram, GROUP) if "Received" in t]

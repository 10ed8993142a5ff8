"""Results people can read: formatting, long texts, progress, history, usage and forgetting."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.chat.preferences import ChatPreferences, save_preferences
from bot.intron.options import TranscriptionOptions
from storage.models import ChatSettings, Job
from tests.conftest import (
    RunningBot,
    entity_text,
    eventually,
    replies_to,
    send_command,
    send_voice,
    texts,
    transcript_replies,
)
from tests.fakes.intron_api import FakeIntron
from tests.fakes.telegram import FakeTelegram
from tests.markdown_cases import nested_emphasis
from tests.test_settings import buttons, press

CHAT = 8001
ADMIN = 99


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


async def wait_delivered(telegram: FakeTelegram, count: int = 1) -> None:
    """A job is delivered once Telegram accepted every message of it."""

    async def delivered() -> bool:
        return await Job.filter(state="delivered").count() >= count

    await eventually(delivered, what=f"{count} delivered; chat saw {texts(telegram, CHAT)}")


async def choose_telehealth_summary(chat: int) -> None:
    # Settings through buttons are covered in test_settings; here they are only the setup.
    await save_preferences(
        chat, ChatPreferences(TranscriptionOptions(category="telehealth", flags=["summary"]))
    )


async def test_hostile_markdown_is_delivered_without_a_single_rejection(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    await choose_telehealth_summary(CHAT)
    intron.results["summary"] = (
        "# Plan\n\n**Bold** and *italic* and `code`.\n\n"
        "- snake_case_name and 2 * 3 < 7 & a [bracket\n"
        "- <br> tag, <b>html</b>, unbalanced **bold and _under\n"
        "1. a | table | row\n"
    )
    send_voice(telegram, CHAT)
    await wait_delivered(telegram)
    assert telegram.rejections == []
    chat_text = "\n".join(texts(telegram, CHAT))
    for fragment in (
        "Plan",
        "Bold",
        "italic",
        "snake_case_name",
        "2 * 3 < 7 & a [bracket",
        "<br>",
        "under",
    ):
        assert fragment in chat_text, fragment
    summary = next(m for m in telegram.bot_messages(CHAT) if "📋 Summary" in m.get("text", ""))
    bold = [entity_text(summary, e) for e in summary.get("entities", []) if e["type"] == "bold"]
    assert "Bold" in bold


async def test_result_with_latex_looking_text_keeps_its_formatting(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    await choose_telehealth_summary(CHAT)
    intron.results["summary"] = "**Dose**: \\(\\alpha\\) = 2 mg/kg twice daily"
    send_voice(telegram, CHAT)
    await wait_delivered(telegram)
    summary = next(m for m in telegram.bot_messages(CHAT) if "📋 Summary" in m.get("text", ""))
    assert "**" not in summary["text"], "not the raw Markdown source"
    assert "\\alpha" in summary["text"] and "2 mg/kg twice daily" in summary["text"]
    bold = [entity_text(summary, e) for e in summary.get("entities", []) if e["type"] == "bold"]
    assert "Dose" in bold


async def test_deep_markdown_arrives_within_100_entities_and_references_as_characters(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    """Telegram shows only the first 100 entities of a message; nested emphasis and quotes
    once made thousands. Character references once showed raw ("&copy;")."""
    await choose_telehealth_summary(CHAT)
    intron.results["summary"] = (
        nested_emphasis(300) + "\n\n" + "> " * 500 + "quoted\n\n&copy; 2026 Clinic &amp; Lab, AT&T"
    )
    send_voice(telegram, CHAT)
    await wait_delivered(telegram)
    assert telegram.rejections == []
    assert all(len(m.get("entities", [])) <= 100 for m in telegram.bot_messages(CHAT))
    chat_text = "\n".join(texts(telegram, CHAT))
    assert "© 2026 Clinic & Lab, AT&T" in chat_text
    assert " core " in chat_text and "quoted" in chat_text


async def test_long_transcript_arrives_complete_in_order_with_a_report_file(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    sentences = [
        f"Sentence number {i} describes symptom {i * 7 % 13} in detail." for i in range(400)
    ]
    long_text = " ".join(sentences)
    assert len(long_text) > 12_000
    intron.transcript = long_text
    sent = send_voice(telegram, CHAT)
    await wait_delivered(telegram)
    assert telegram.rejections == []
    parts = [m for m in replies_to(telegram, CHAT, sent["message_id"]) if not m["deleted"]]
    text_parts = [m["text"] for m in parts if "text" in m]
    assert len(text_parts) >= 3
    assert all(len(t.encode("utf-16-le")) // 2 <= 4096 for t in text_parts)
    joined = squash("".join(text_parts))
    assert squash(long_text) in joined, "every character, in order"
    documents = [m for m in parts if "document" in m]
    assert len(documents) == 1
    assert documents[0]["document"]["file_name"].endswith(".md")
    assert squash(long_text) in squash(documents[0]["document_bytes"].decode())


async def test_status_message_goes_from_received_to_done(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    sent = send_voice(telegram, CHAT)
    await wait_delivered(telegram)

    def deleted() -> list[dict[str, Any]]:
        return [m for m in telegram.bot_messages(CHAT, include_deleted=True) if m["deleted"]]

    # The status message is removed just after the result is sent, not with it.
    await telegram.wait_for(lambda: bool(deleted()))
    [status] = deleted()
    assert status["reply_to_message_id"] == sent["message_id"]
    history = telegram.history(CHAT, status["message_id"])
    steps = [entry.get("text", "") for entry in history]
    assert "Received" in steps[0]
    assert "Sending" in steps[1]
    assert all("Transcribing" in step for step in steps[2:-1]) and len(steps) >= 4
    assert history[-1]["event"] == "deleted"
    assert any(method == "sendChatAction" for method, _ in telegram.requests)
    # What remains in the chat is the result, not the progress.
    assert [m for m in telegram.bot_messages(CHAT) if m["message_id"] == status["message_id"]] == []


async def test_history_resend_and_usage(
    telegram: FakeTelegram, intron: FakeIntron, bot_factory: Any
) -> None:
    running = bot_factory(admin_user_ids=frozenset({ADMIN}))
    await running.start()
    try:
        send_voice(telegram, CHAT)
        send_voice(telegram, CHAT + 1)
        await wait_delivered(telegram, count=2)

        telegram.user_message(CHAT, text="/history")
        await telegram.wait_for(lambda: "Recent recordings" in texts(telegram, CHAT)[-1])
        history = telegram.bot_messages(CHAT)[-1]
        assert "delivered" in history["text"] and "Transcript only" in history["text"]
        assert len(buttons(history)) == 1
        await press(telegram, CHAT, history["message_id"], "Resend")
        await telegram.wait_for(lambda: len(transcript_replies(telegram, CHAT)) == 2)

        telegram.user_message(CHAT, text="/usage", user_id=ADMIN)
        await telegram.wait_for(lambda: "audio minutes" in texts(telegram, CHAT)[-1])
        usage = texts(telegram, CHAT)[-1]
        assert "This chat: 0.1 audio minutes in 1 recording." in usage
        assert "All chats: 0.2 audio minutes in 2 recordings from 2 chats" in usage

        telegram.user_message(CHAT + 1, text="/usage")
        await telegram.wait_for(lambda: "audio minutes" in texts(telegram, CHAT + 1)[-1])
        assert "All chats" not in texts(telegram, CHAT + 1)[-1]

        # In a group the operator's /usage is the group's, as any member's is: its members
        # see the answer.
        group = -1000 - CHAT
        [in_group] = await send_command(
            telegram, group, "/usage", user_id=ADMIN, chat_type="supergroup"
        )
        assert in_group["text"] == "🎙 This chat: 0.0 audio minutes in 0 recordings."
    finally:
        await running.stop()


async def test_forget_erases_this_chats_text_and_settings_only(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    await choose_telehealth_summary(CHAT)
    await choose_telehealth_summary(CHAT + 1)
    send_voice(telegram, CHAT)
    send_voice(telegram, CHAT + 1)
    await wait_delivered(telegram, count=2)

    telegram.user_message(CHAT, text="/forget")
    await telegram.wait_for(lambda: "Erase" in texts(telegram, CHAT)[-1])
    confirm = telegram.bot_messages(CHAT)[-1]
    await press(telegram, CHAT, confirm["message_id"], "Yes")
    await telegram.wait_for(lambda: "Erased" in texts(telegram, CHAT)[-1])

    mine = await Job.filter(chat_id=CHAT)
    assert mine and all(j.result is None and j.purged_at is not None for j in mine)
    assert await ChatSettings.filter(chat_id=CHAT).count() == 0
    others = await Job.filter(chat_id=CHAT + 1)
    assert others[0].result is not None and await ChatSettings.filter(chat_id=CHAT + 1).count() == 1

    telegram.user_message(CHAT, text="/history")
    await telegram.wait_for(lambda: "Recent recordings" in texts(telegram, CHAT)[-1])
    assert "text erased" in texts(telegram, CHAT)[-1]
    assert buttons(telegram.bot_messages(CHAT)[-1]) == []


async def test_retention_purges_old_text_and_keeps_metadata(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    send_voice(telegram, CHAT)
    send_voice(telegram, CHAT + 1)
    await wait_delivered(telegram, count=2)
    await Job.filter(chat_id=CHAT).update(finished_at=datetime.now(UTC) - timedelta(days=31))

    await bot.stop()
    await bot.start()  # the scheduler purges at start-up, then hourly

    async def purged() -> bool:
        return (await Job.get(chat_id=CHAT)).purged_at is not None

    await eventually(purged, what="retention purge")
    old = await Job.get(chat_id=CHAT)
    assert old.result is None and old.reply is None
    # The file name is often a patient's; the file ids would fetch the audio and text again.
    assert old.file_name == "" and old.telegram_file_id == "" and old.intron_file_id is None
    assert old.processed_seconds is not None and old.duration == 7
    kept = await Job.get(chat_id=CHAT + 1)
    assert kept.result is not None and kept.file_name == "voice.ogg"


async def test_groups_get_no_ticking_progress(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    """Telegram counts edits against a group's 20 messages a minute: spend them on results."""
    group = -1008001
    intron.processing_seconds = 2.0
    sent = send_voice(telegram, group, chat_type="supergroup", user_id=5)
    await wait_delivered(telegram)
    group_calls = [m for m, p in telegram.requests if p.get("chat_id") == group]
    assert "editMessageText" not in group_calls and "sendChatAction" not in group_calls
    assert transcript_replies(telegram, group)[0]["reply_to_message_id"] == sent["message_id"]

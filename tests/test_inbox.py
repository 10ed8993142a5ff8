"""Nothing lost between Telegram and the database: updates are stored before they are confirmed,
and handled from the inbox, in order per chat, also after a crash."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from storage.models import InboxUpdate
from tests.conftest import (
    BotProcess,
    RunningBot,
    count_rows,
    eventually,
    fixture_bytes,
    idle,
    send_voice,
    settings_env,
    texts,
    transcript_replies,
)
from tests.fakes.intron_api import FakeIntron
from tests.fakes.telegram import FakeTelegram
from tests.test_settings import buttons, menu_message, open_settings

CHAT = 9001


async def polling_bot(
    telegram: FakeTelegram, intron: FakeIntron, database_url: str, cwd: Path
) -> BotProcess:
    """`python -m bot` started and polling."""
    process = BotProcess(settings_env(telegram, intron, database_url), cwd=cwd)
    await process.start()
    await telegram.wait_for(lambda: bool(telegram.calls("getUpdates")), timeout=30)
    return process


async def stop_process(process: BotProcess) -> None:
    assert process.proc is not None
    process.proc.terminate()
    assert await process.wait(15) == 0


async def test_kill_9_when_the_batch_is_confirmed_loses_none_of_ten_voice_notes(
    telegram: FakeTelegram, intron: FakeIntron, tmp_path: Path, database_url: str
) -> None:
    first = await polling_bot(telegram, intron, database_url, tmp_path)
    # No download may finish before the kill (an upload cut short is, by design, made again).
    downloads = telegram.hold("getFile")
    voice = fixture_bytes("voice_consultation.ogg")
    chats = list(range(9100, 9110))
    sent = [telegram.user_message(chat, voice=telegram.voice(voice)) for chat in chats]
    batch = {(telegram.last_update or {})["update_id"] - i for i in range(10)}
    assert first.proc is not None
    killed = first.proc
    # The instant the bot asks past the batch, Telegram forgets it and the process dies.
    telegram.on_confirmed(lambda ids: killed.kill() if batch <= set(ids) else None)
    assert await first.wait(20) == -9
    downloads.drop()
    assert telegram.webhook_info()["pending_update_count"] == 0, "Telegram no longer has them"
    assert await count_rows(database_url, "inbox_updates") == 10

    second = await polling_bot(telegram, intron, database_url, tmp_path)
    try:
        await telegram.wait_for(
            lambda: all(transcript_replies(telegram, c) for c in chats), timeout=60
        )
        # Every update handled and every job final: a duplicate would have been sent.
        await eventually(lambda: idle(telegram, database_url), what="nothing left to do")
    finally:
        await stop_process(second)
    for chat, message in zip(chats, sent, strict=True):
        [reply] = transcript_replies(telegram, chat)
        assert reply["reply_to_message_id"] == message["message_id"]
    assert len(intron.uploads) == 10


async def test_settings_button_pressed_just_before_a_crash_is_applied_once(
    telegram: FakeTelegram, intron: FakeIntron, tmp_path: Path, database_url: str
) -> None:
    first = await polling_bot(telegram, intron, database_url, tmp_path)
    menu = await open_settings(telegram, CHAT)
    # The press is saved, then the menu is redrawn: the process dies during that redraw, before
    # the update is marked handled, so the restarted bot handles the same press again.
    edits = telegram.hold("editMessageText")
    query_id = telegram.press_button(CHAT, menu, "set:diar")
    await telegram.wait_for(lambda: bool(telegram.calls("editMessageText")), timeout=15)
    assert first.proc is not None
    first.proc.kill()
    await first.wait(15)
    edits.drop()
    assert query_id not in telegram.answered_callbacks
    assert await count_rows(database_url, "inbox_updates", "handled_at IS NULL") == 1

    second = await polling_bot(telegram, intron, database_url, tmp_path)
    try:
        await telegram.wait_for(lambda: query_id in telegram.answered_callbacks, timeout=30)
        shown = [b["text"] for b in buttons(menu_message(telegram, CHAT, menu))]
        assert "👥 Speaker separation: on" in shown
        count = len(intron.uploads)
        send_voice(telegram, CHAT)
        await intron.wait_for(lambda: len(intron.uploads) > count, timeout=20)
    finally:
        await stop_process(second)
    assert intron.uploads[-1].fields.get("use_diarization") == "TRUE", "toggled once, not twice"


async def test_updates_left_in_the_inbox_are_handled_first_in_order_per_chat(
    telegram: FakeTelegram, intron: FakeIntron, tmp_path: Path, database_url: str
) -> None:
    first = await polling_bot(telegram, intron, database_url, tmp_path)
    replies = telegram.hold("sendMessage")
    other = CHAT + 1
    for text in ("/start", "/help", "/usage"):
        telegram.user_message(CHAT, text=text)
    telegram.user_message(other, text="/help")
    ids = {(telegram.last_update or {})["update_id"] - i for i in range(4)}
    confirmed: set[int] = set()
    telegram.on_confirmed(confirmed.update)
    # Killed once Telegram has forgotten all four and the bot is busy answering the first.
    await telegram.wait_for(
        lambda: ids <= confirmed and bool(telegram.calls("sendMessage")), timeout=15
    )
    assert first.proc is not None
    first.proc.kill()
    await first.wait(15)
    replies.drop()
    assert telegram.bot_messages(CHAT) == [] and telegram.bot_messages(other) == []

    second = await polling_bot(telegram, intron, database_url, tmp_path)
    try:
        await telegram.wait_for(
            lambda: len(texts(telegram, CHAT)) == 3 and len(texts(telegram, other)) == 1
        )
    finally:
        await stop_process(second)
    start, help_text, usage = texts(telegram, CHAT)
    assert "Current settings" in start and "/history" in help_text and "audio minutes" in usage


async def handled(count: int) -> None:
    """Wait until `count` updates are marked handled (just after their replies went out)."""

    async def marked() -> bool:
        return await InboxUpdate.filter(handled_at__isnull=False).count() >= count

    await eventually(marked, what=f"{count} updates marked handled")


async def test_handled_updates_are_deleted_after_the_retention_and_by_forget(
    telegram: FakeTelegram, bot_factory: Any
) -> None:
    running: RunningBot = bot_factory(retention_days=1)
    await running.start()
    try:
        telegram.user_message(CHAT, text="/help")
        telegram.user_message(CHAT + 1, text="/help")
        await telegram.wait_for(
            lambda: bool(telegram.bot_messages(CHAT)) and bool(telegram.bot_messages(CHAT + 1))
        )
        await handled(2)
        old = time.time() - 1.5 * 86400  # RETENTION_DAYS=1 caps the usual few days
        await InboxUpdate.filter(chat_id=CHAT).update(handled_at=old)
        await running.stop()
        await running.start()  # the purge runs at start-up, then hourly

        # Beside start-up, not before it is done: wait for it. One purge deletes every row
        # past the retention, so the newer row still there afterwards was kept, not missed.
        async def purged() -> bool:
            return await InboxUpdate.filter(chat_id=CHAT).count() == 0

        await eventually(purged, what="the start-up purge of the inbox")
        assert await InboxUpdate.filter(chat_id=CHAT + 1).count() == 1

        telegram.user_message(CHAT + 1, text="/forget")
        await telegram.wait_for(lambda: "Erase every" in texts(telegram, CHAT + 1)[-1])
        confirm = telegram.bot_messages(CHAT + 1)[-1]["message_id"]
        query = telegram.press_button(CHAT + 1, confirm, "forget:yes")
        await telegram.wait_for(lambda: query in telegram.answered_callbacks)
        await telegram.wait_for(lambda: "Erased" in texts(telegram, CHAT + 1)[-1])
        left = await InboxUpdate.filter(chat_id=CHAT + 1).values_list("update_id", flat=True)
        assert left == [int(telegram.last_update["update_id"])], "only the press itself"
    finally:
        await running.stop()


async def test_voice_note_cut_off_before_its_received_still_gets_it_after_restart(
    telegram: FakeTelegram, intron: FakeIntron, tmp_path: Path, database_url: str
) -> None:
    first = await polling_bot(telegram, intron, database_url, tmp_path)
    replies = telegram.hold("sendMessage")
    sent = send_voice(telegram, CHAT)
    await telegram.wait_for(lambda: bool(telegram.calls("sendMessage")), timeout=15)
    assert first.proc is not None
    first.proc.kill()  # the job is stored; the "Received" never went out
    await first.wait(15)
    replies.drop()
    assert await count_rows(database_url, "jobs", "status_message_id IS NULL") == 1

    second = await polling_bot(telegram, intron, database_url, tmp_path)
    try:
        await telegram.wait_for(lambda: bool(transcript_replies(telegram, CHAT)), timeout=30)
    finally:
        await stop_process(second)
    statuses = [c for c in telegram.calls("sendMessage") if "Received" in c.get("text", "")]
    assert len(statuses) == 2, "the one cut off, and the one the replayed update sent"
    answers = [
        m
        for m in telegram.bot_messages(CHAT, include_deleted=True)
        if m["reply_to_message_id"] == sent["message_id"]
    ]
    assert len(answers) == 2  # the status message (removed with the result) and the result
    assert len(transcript_replies(telegram, CHAT)) == 1 and len(intron.uploads) == 1

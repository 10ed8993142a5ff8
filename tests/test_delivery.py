"""A stored result always reaches its chat: through outages, refusals, lost answers, restarts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bot.engine import delivery, intake
from bot.render import render_results
from storage.models import Job, JobState
from tests.conftest import (
    BotProcess,
    RunningBot,
    eventually,
    idle,
    replies_to,
    send_voice,
    settings_env,
    texts,
    transcript_replies,
)
from tests.fakes.intron_api import FakeIntron, Fault
from tests.fakes.telegram import FakeTelegram
from tests.test_reliability import only_answer
from tests.test_settings import buttons, press

CHAT = 9001
# The old code gave a reply up after 12 failed tries in a row (a few minutes of outage).
OLD_GIVE_UP_TRIES = 12
STATUS_MARKS = ("🎧", "⬆️", "⏳", "ℹ️")  # the progress message's texts, and its last notice
MAYBE_MISSING = "ℹ️ The bot restarted while sending this result"


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def long_transcript() -> str:
    return " ".join(
        f"Observation {i} about the patient's symptom number {i % 17}." for i in range(500)
    )


def result_texts(telegram: FakeTelegram, chat: int, message_id: int) -> list[str]:
    """The text parts of the result the chat holds for one recording, in order."""
    return [
        m["text"]
        for m in replies_to(telegram, chat, message_id)
        if "text" in m and not m["deleted"] and not m["text"].startswith(STATUS_MARKS)
    ]


async def has_state(chat: int, state: JobState) -> bool:
    """The state of the chat's one job, read as the operator would (a eventually check)."""
    return (await Job.get(chat_id=chat)).state == state


async def test_result_arrives_after_an_outage_longer_than_the_old_give_up(
    telegram: FakeTelegram, intron: FakeIntron, bot_factory: Any
) -> None:
    running = bot_factory(delivery_retry_max_seconds=0.1)  # production: minutes between tries
    await running.start()
    try:
        sent = send_voice(telegram, CHAT)
        await intron.wait_for(lambda: len(intron.uploads) == 1)
        refusals = OLD_GIVE_UP_TRIES + 8
        telegram.fail_next("sendMessage", status=502, description="Bad Gateway", times=refusals)
        text = await only_answer(telegram, CHAT, sent["message_id"], within=60)
        assert intron.transcript in text
        assert len(telegram.calls("sendMessage")) >= refusals + 2  # "Received", then the rest
        await eventually(lambda: has_state(CHAT, JobState.DELIVERED), what="delivered")
    finally:
        await running.stop()


async def test_given_up_delivery_is_resent_from_history(
    telegram: FakeTelegram, intron: FakeIntron, bot_factory: Any
) -> None:
    running = bot_factory(delivery_retry_max_seconds=0.1, delivery_give_up_seconds=1.0)
    await running.start()
    try:
        sent = send_voice(telegram, CHAT)
        await intron.wait_for(lambda: len(intron.uploads) == 1)
        telegram.fail_next("sendMessage", status=502, description="Bad Gateway", times=10_000)

        await eventually(
            lambda: has_state(CHAT, JobState.FAILED),
            what="giving up after DELIVERY_GIVE_UP_SECONDS",
        )
        telegram.stop_failing()  # Telegram is back; the user asks for it
        await history_resend(telegram, CHAT)
        await telegram.wait_for(lambda: bool(transcript_replies(telegram, CHAT)))
        [result] = transcript_replies(telegram, CHAT)
        assert result["reply_to_message_id"] == sent["message_id"]
        await eventually(lambda: has_state(CHAT, JobState.DELIVERED), what="delivered")
    finally:
        await running.stop()


async def history_resend(telegram: FakeTelegram, chat: int) -> None:
    telegram.user_message(chat, text="/history")
    await telegram.wait_for(lambda: "Recent recordings" in texts(telegram, chat)[-1])
    history = telegram.bot_messages(chat)[-1]
    assert [b["text"] for b in buttons(history)] == [
        f"🔁 Resend #{(await Job.get(chat_id=chat)).id}"
    ]
    await press(telegram, chat, history["message_id"], "Resend")


async def test_reply_rejected_once_is_resent_from_history(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    sent = send_voice(telegram, CHAT)
    await intron.wait_for(lambda: len(intron.uploads) == 1)
    telegram.fail_next("sendMessage", description="Bad Request: message is too long")
    assert "refused to display" in await only_answer(telegram, CHAT, sent["message_id"])
    assert transcript_replies(telegram, CHAT) == []
    await eventually(lambda: has_state(CHAT, JobState.FAILED), what="the job failing")
    await history_resend(telegram, CHAT)
    await telegram.wait_for(lambda: bool(transcript_replies(telegram, CHAT)))
    [result] = transcript_replies(telegram, CHAT)
    assert intron.transcript in result["text"]
    assert result["reply_to_message_id"] == sent["message_id"]


async def test_part_telegram_took_but_answered_too_late_is_not_sent_twice(
    telegram: FakeTelegram, intron: FakeIntron, bot_factory: Any
) -> None:
    running = bot_factory(telegram_timeout_seconds=1.0)
    await running.start()
    try:
        intron.transcript = long_transcript()
        sent = send_voice(telegram, CHAT)
        await intron.wait_for(lambda: len(intron.uploads) == 1)
        # The second part of the result is stored by Telegram, its answer comes too late.
        telegram.answer_late("sendMessage", delay=2.0, after=1)

        await eventually(lambda: has_state(CHAT, JobState.DELIVERED), within=30, what="delivery")
        # Every update handled, every job final: a duplicate part would have been sent.
        await eventually(lambda: idle(telegram), what="nothing left to do")
        parts = result_texts(telegram, CHAT, sent["message_id"])
        assert len(parts) >= 3
        assert len(parts) == len(set(parts)), "no part twice"
        assert squash(intron.transcript) in squash("".join(parts))
    finally:
        await running.stop()


async def test_part_lost_in_an_outage_is_sent_again_when_telegram_is_back(
    telegram: FakeTelegram, intron: FakeIntron, bot_factory: Any
) -> None:
    running = bot_factory(telegram_timeout_seconds=0.5, delivery_retry_max_seconds=0.2)
    await running.start()
    try:
        sent = send_voice(telegram, CHAT)
        await intron.wait_for(lambda: len(intron.uploads) == 1)
        sends_before = len(telegram.calls("sendMessage"))
        # An outage where Telegram hangs without acting on anything, the bot's check included
        # (a held call the bot gave up on is never carried out).
        holds = [telegram.hold(method) for method in ("sendMessage", "sendChatAction")]
        await telegram.wait_for(
            lambda: len(telegram.calls("sendMessage")) >= sends_before + 2, timeout=20
        )
        assert transcript_replies(telegram, CHAT) == []
        for hold in holds:
            hold.release()  # Telegram is back
        text = await only_answer(telegram, CHAT, sent["message_id"], within=30)
        assert intron.transcript in text
    finally:
        await running.stop()


async def test_resumed_reply_continues_exactly_where_it_stopped(
    telegram: FakeTelegram,
    intron: FakeIntron,
    bot: RunningBot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The rest of a stored answer, even when the restarted version renders differently."""
    intron.transcript = long_transcript()
    intron.processing_seconds = 1.0
    sent = send_voice(telegram, CHAT)
    await intron.wait_for(lambda: len(intron.uploads) == 1)
    telegram.fail_next("sendMessage", status=502, description="Bad Gateway", times=10_000, after=1)

    async def one_part_sent() -> bool:
        job = await Job.get(chat_id=CHAT)
        return job.parts_sent == 1 and job.attempts >= 1

    await eventually(one_part_sent, what="first part sent, the next refused")
    await bot.stop()
    telegram.stop_failing()
    # The new version cuts messages shorter: re-rendering would repeat or skip text.
    monkeypatch.setattr(
        delivery,
        "render_results",
        lambda data, **kw: render_results(data, **{**kw, "max_len": 1000}),
    )
    await bot.start()
    await telegram.wait_for(lambda: any("document" in m for m in telegram.bot_messages(CHAT)), 20)
    parts = result_texts(telegram, CHAT, sent["message_id"])
    joined = squash("".join(parts))
    assert joined.count(squash(intron.transcript)) == 1
    assert all(len(p) > 1000 for p in parts[:-1]), "every part as first rendered"


async def test_kill_9_while_a_part_is_on_its_way_does_not_send_it_twice(
    telegram: FakeTelegram, intron: FakeIntron, tmp_path: Path, database_url: str
) -> None:
    intron.transcript = long_transcript()
    env = settings_env(telegram, intron, database_url)
    first = BotProcess(env, cwd=tmp_path)
    await first.start()
    sent = send_voice(telegram, CHAT)
    telegram.answer_late("sendMessage", delay=60, after=2)  # "Received", part 1, then part 2
    await telegram.wait_for(lambda: len(result_texts(telegram, CHAT, sent["message_id"])) == 2, 30)
    await first.kill()  # Telegram stored part 2; the bot never heard back

    second = BotProcess(env, cwd=tmp_path)
    await second.start()
    try:
        await telegram.wait_for(
            lambda: any("document" in m for m in telegram.bot_messages(CHAT)), timeout=30
        )
        # The job final in the database: a duplicate part would have been sent.
        await eventually(lambda: idle(telegram, database_url), what="nothing left to do")
    finally:
        assert second.proc is not None
        second.proc.terminate()
        await second.wait(15)
    parts = result_texts(telegram, CHAT, sent["message_id"])
    assert len(parts) == len(set(parts)), "no part twice"
    assert squash("".join(parts)).count(squash(intron.transcript)) == 1
    # The bot cannot know the chat has part 2: it says so, with a way to get it all again.
    assert buttons(maybe_missing_notice(telegram, sent["message_id"]))


async def test_kill_9_before_a_part_reached_telegram_offers_the_result_again(
    telegram: FakeTelegram, intron: FakeIntron, tmp_path: Path, database_url: str
) -> None:
    """Killed after recording that a part is leaving but before Telegram got it: the part
    counts as sent, as the bot cannot tell this from an answer lost on the way back. The chat
    is told, and its button sends the whole result again."""
    intron.transcript = long_transcript()
    env = settings_env(telegram, intron, database_url)
    first = BotProcess(env, cwd=tmp_path)
    await first.start()
    sent = send_voice(telegram, CHAT)
    await intron.wait_for(lambda: len(intron.uploads) == 1)
    hold = telegram.hold("sendMessage")
    await telegram.wait_for(lambda: any(result_sends(telegram)), timeout=30)
    await first.kill()
    hold.drop()  # part 1 never reached Telegram

    second = BotProcess(env, cwd=tmp_path)
    await second.start()
    try:
        await telegram.wait_for(
            lambda: any("document" in m for m in telegram.bot_messages(CHAT)), timeout=30
        )
        await eventually(lambda: idle(telegram, database_url), what="nothing left to do")
        parts = result_texts(telegram, CHAT, sent["message_id"])
        assert squash(intron.transcript) not in squash("".join(parts)), "part 1 is missing"
        notice = maybe_missing_notice(telegram, sent["message_id"])
        before = len(telegram.bot_messages(CHAT))
        answer = await press(telegram, CHAT, notice["message_id"], "Send the result again")
        assert answer.get("text") == "Sending it again…"
        await telegram.wait_for(
            lambda: any("document" in m for m in telegram.bot_messages(CHAT)[before:]), 30
        )
    finally:
        assert second.proc is not None
        second.proc.terminate()
        await second.wait(15)
    again = [m["text"] for m in telegram.bot_messages(CHAT)[before:] if "text" in m]
    assert squash("".join(again)).count(squash(intron.transcript)) == 1


def maybe_missing_notice(telegram: FakeTelegram, message_id: int) -> dict[str, Any]:
    """The one message telling the chat a part of the answer to `message_id` may be missing."""
    [notice] = [
        m
        for m in replies_to(telegram, CHAT, message_id)
        if not m["deleted"] and m.get("text", "").startswith(MAYBE_MISSING)
    ]
    return notice


async def test_slow_received_message_is_still_removed_with_the_result(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job can start before its "Received" is confirmed; the stages must not then overwrite
    the message id the handler writes meanwhile."""
    monkeypatch.setattr(intake, "STATUS_GRACE_SECONDS", 0.0)  # taken at the scheduler's next tick
    telegram.answer_late("sendMessage", delay=1.0)  # the "Received" reply
    intron.inject("upload", Fault.slow(2.5))  # still uploading when "Received" is confirmed
    sent = send_voice(telegram, CHAT)
    await telegram.wait_for(lambda: bool(replies_to(telegram, CHAT, sent["message_id"])))
    send_voice(telegram, CHAT + 1)  # its quick "Received" wakes the scheduler: a tick
    await intron.wait_for(lambda: len(intron.uploads) == 2)
    assert intron.transcript in await only_answer(telegram, CHAT, sent["message_id"])

    def progress() -> list[dict[str, Any]]:
        answer_id = transcript_replies(telegram, CHAT)[0]["message_id"]
        return [
            m
            for m in telegram.bot_messages(CHAT, include_deleted=True)
            if m["message_id"] != answer_id
        ]

    # Removed just after the result is sent (by the reply, or by the handler when the
    # "Received" was confirmed only after the job finished): wait for it, then check it is
    # the one message besides the result.
    await telegram.wait_for(lambda: all(m["deleted"] for m in progress()))
    [received] = progress()
    assert received["deleted"], "no orphaned progress message"


async def test_part_cut_short_by_a_stop_is_sent_after_the_restart(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    """A send still unanswered when the stop's grace period ends was most likely waiting its
    turn (a busy group's flood limit): it has not left, and must not count as sent."""
    sent = send_voice(telegram, CHAT)
    await intron.wait_for(lambda: len(intron.uploads) == 1)
    hold = telegram.hold("sendMessage")
    await telegram.wait_for(lambda: any(result_sends(telegram)), timeout=15)
    await bot.stop()  # the held send is cancelled after the grace period
    hold.drop()  # it never reached Telegram
    await bot.start()
    assert intron.transcript in await only_answer(telegram, CHAT, sent["message_id"])


def result_sends(telegram: FakeTelegram) -> list[dict[str, Any]]:
    """Every result send the fake received, answered or not (a held one is not)."""
    return [p for p in telegram.calls("sendMessage") if "📝 Transcript" in str(p.get("text"))]


async def test_three_presses_on_resend_send_the_result_once_more_through_the_engine(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    intron.transcript = long_transcript()  # a result of several parts
    sent = send_voice(telegram, CHAT)
    await telegram.wait_for(lambda: bool(transcript_replies(telegram, CHAT)))
    await eventually(lambda: has_state(CHAT, JobState.DELIVERED), what="delivered")
    parts = len(result_texts(telegram, CHAT, sent["message_id"]))
    assert parts > 1

    telegram.user_message(CHAT, text="/history")
    await telegram.wait_for(lambda: "Recent recordings" in texts(telegram, CHAT)[-1])
    history = telegram.bot_messages(CHAT)[-1]["message_id"]
    answers = [await press(telegram, CHAT, history, "Resend") for _ in range(3)]
    assert [a.get("text") for a in answers] == [
        "Sending it again…",
        "⏳ That result is already on its way.",
        "⏳ That result is already on its way.",
    ]
    await telegram.wait_for(
        lambda: len(result_texts(telegram, CHAT, sent["message_id"])) >= 2 * parts
    )
    await eventually(lambda: has_state(CHAT, JobState.DELIVERED), what="resent")
    # A later note's answer shows the engine has been through its queue: no third copy.
    later = send_voice(telegram, CHAT)
    await telegram.wait_for(lambda: bool(result_texts(telegram, CHAT, later["message_id"])))
    assert len(result_texts(telegram, CHAT, sent["message_id"])) == 2 * parts

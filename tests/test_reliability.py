"""Every accepted recording ends in exactly one answer, whatever Intron or Telegram do."""

from __future__ import annotations

import asyncio
import glob
import os
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import pytest

from bot.engine.scheduler import JobScheduler
from storage.db import close_database, init_database
from storage.models import Job, JobState
from tests.conftest import (
    BotProcess,
    RunningBot,
    count_jobs,
    eventually,
    fixture_bytes,
    idle,
    replies_to,
    send_voice,
    settings_env,
    transcript_replies,
)
from tests.fakes.intron_api import FakeIntron, Fault
from tests.fakes.telegram import FakeTelegram

CHAT = 4001
VOICE = "voice_consultation.ogg"


async def only_answer(
    telegram: FakeTelegram, chat: int, message_id: int, within: float = 30
) -> str:
    """Wait for the one final answer to a recording and return its text."""

    def final() -> list[dict[str, Any]]:
        return [
            m
            for m in replies_to(telegram, chat, message_id)
            if not m["deleted"]
            and (
                "📝 Transcript" in m.get("text", "")
                or m.get("text", "").startswith(("❌", "⚠️", "⌛"))
            )
        ]

    await telegram.wait_for(lambda: bool(final()), timeout=within)
    # Every update handled, every job final: a second answer would have been sent.
    await eventually(lambda: idle(telegram), what="nothing left to do")
    [answer] = final()
    return answer["text"]


async def test_server_error_burst_is_retried_to_one_result(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    intron.inject(
        "upload", Fault.server_error(500), Fault.server_error(503), Fault.server_error(503)
    )
    intron.inject("status", Fault.server_error(502), Fault.garbage())
    sent = send_voice(telegram, CHAT)
    text = await only_answer(telegram, CHAT, sent["message_id"], within=60)
    assert intron.transcript in text
    assert len(intron.uploads) == 1
    assert [c[2] for c in intron.calls if c[0] == "upload"] == [500, 503, 503, 200]


async def test_rate_limit_pauses_the_endpoint_for_retry_after(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    intron.inject("status", Fault.rate_limited(2))
    sent = send_voice(telegram, CHAT)
    await only_answer(telegram, CHAT, sent["message_id"])
    statuses = [(t, code) for endpoint, t, code in intron.calls if endpoint == "status"]
    limited_at = next(t for t, code in statuses if code == 429)
    later = [t for t, _ in statuses if t > limited_at]
    assert later, "polling resumed after the pause"
    assert min(later) - limited_at >= 2.0


async def test_timeout_is_retried(
    telegram: FakeTelegram, intron: FakeIntron, bot_factory: Any
) -> None:
    # 2 s is far more than a normal answer takes even on a busy machine (a normal upload that
    # timed out would be retried and make a second upload); the fault outlasts it by far.
    running = bot_factory(intron_timeout_seconds=2.0)
    await running.start()
    try:
        intron.inject("status", Fault(status=200, delay=30))
        sent = send_voice(telegram, CHAT)
        assert intron.transcript in await only_answer(telegram, CHAT, sent["message_id"])
        assert len(intron.uploads) == 1
    finally:
        await running.stop()


async def test_processing_failed_is_explained_once(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    intron.fail_processing.add("voice.ogg")
    sent = send_voice(telegram, CHAT)
    text = await only_answer(telegram, CHAT, sent["message_id"])
    assert "could not transcribe" in text
    job = await Job.get(chat_id=CHAT, message_id=sent["message_id"])
    assert job.state == JobState.FAILED


async def test_bad_api_key_says_misconfigured(
    telegram: FakeTelegram, intron: FakeIntron, bot_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    running = bot_factory(intron_api_key="not-the-key")
    await running.start()
    try:
        sent = send_voice(telegram, CHAT)
        text = await only_answer(telegram, CHAT, sent["message_id"])
        assert "misconfigured" in text
        assert intron.uploads == []
        assert any(
            r.levelname == "ERROR" and "INTRON_API_KEY" in r.getMessage() for r in caplog.records
        )
        assert not any("not-the-key" in r.getMessage() for r in caplog.records)
    finally:
        await running.stop()


async def test_rejected_audio_is_explained(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    sent = telegram.user_message(
        CHAT,
        document=telegram.document(
            fixture_bytes("not_audio.ogg"), mime_type="audio/ogg", file_name="x.ogg"
        ),
    )
    intron.inject("upload", Fault.rejected(400, "invalid audio file"))
    text = await only_answer(telegram, CHAT, sent["message_id"])
    assert "invalid audio file" in text


async def test_oversize_and_empty_files_are_refused_without_download(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    big = telegram.voice(fixture_bytes(VOICE))
    big["file_size"] = 25 * 1024 * 1024
    big_msg = telegram.user_message(CHAT, voice=big)
    empty_msg = telegram.user_message(CHAT, voice=telegram.voice(b"", duration=0))
    await telegram.wait_for(lambda: len(telegram.bot_messages(CHAT)) >= 2)
    [big_answer] = replies_to(telegram, CHAT, big_msg["message_id"])
    assert "20 MB" in big_answer["text"]
    [empty_answer] = replies_to(telegram, CHAT, empty_msg["message_id"])
    assert "empty" in empty_answer["text"]
    # A chat's updates are handled in order: by the time a later recording is answered, a
    # download or upload of either refused file would have happened.
    ok = send_voice(telegram, CHAT)
    await only_answer(telegram, CHAT, ok["message_id"])
    assert telegram.file_downloads == [ok["voice"]["file_id"]]
    assert [u.blob for u in intron.uploads] == [fixture_bytes(VOICE)]


async def test_file_telegram_refuses_to_serve_is_explained(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    voice = telegram.voice(fixture_bytes(VOICE))
    telegram.forget_file(voice["file_id"])
    sent = telegram.user_message(CHAT, voice=voice)
    text = await only_answer(telegram, CHAT, sent["message_id"])
    assert "no longer serves" in text
    assert intron.uploads == []


async def test_deleted_original_still_gets_its_result(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    intron.processing_seconds = 3600  # held at Intron until the original is gone
    sent = send_voice(telegram, CHAT)
    await intron.wait_for(lambda: len(intron.uploads) == 1)
    telegram.delete_user_message(CHAT, sent["message_id"])
    intron.finish()
    await telegram.wait_for(lambda: bool(transcript_replies(telegram, CHAT)))
    [reply] = transcript_replies(telegram, CHAT)
    assert reply["reply_to_message_id"] is None
    assert not [r for r in telegram.rejections if r[0] == "sendMessage"]


async def test_same_update_twice_makes_one_job(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    sent = send_voice(telegram, CHAT)
    telegram.push_update(dict(telegram.last_update or {}))
    # A second job would have been uploaded beside the first, long before this answer (and
    # only_answer waits a moment for a second answer).
    await only_answer(telegram, CHAT, sent["message_id"])
    assert len(intron.uploads) == 1
    assert len(transcript_replies(telegram, CHAT)) == 1


async def test_telegram_flood_limit_is_waited_out(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    sent = send_voice(telegram, CHAT)
    await intron.wait_for(lambda: len(intron.uploads) == 1)
    telegram.fail_next(
        "sendMessage", status=429, description="Too Many Requests: retry after 1", retry_after=1
    )
    assert intron.transcript in await only_answer(telegram, CHAT, sent["message_id"])


async def test_unfinished_job_times_out_with_a_message(
    telegram: FakeTelegram, intron: FakeIntron, bot_factory: Any
) -> None:
    running = bot_factory(job_timeout_seconds=2)
    await running.start()
    try:
        intron.processing_seconds = 60
        sent = send_voice(telegram, CHAT)
        assert "took too long" in await only_answer(telegram, CHAT, sent["message_id"])
    finally:
        await running.stop()


async def test_restart_mid_job_uploads_once_and_delivers_once(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    intron.processing_seconds = 3600  # held at Intron across the restart
    sent = send_voice(telegram, CHAT)
    await intron.wait_for(lambda: len(intron.uploads) == 1)
    await bot.stop()  # graceful; `kill -9` is covered with a real process below
    await bot.start()
    intron.finish()
    assert intron.transcript in await only_answer(telegram, CHAT, sent["message_id"])
    assert len(intron.uploads) == 1


async def test_voice_notes_sent_while_down_are_processed(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    await bot.stop()
    sent = send_voice(telegram, CHAT)
    await bot.start()
    assert intron.transcript in await only_answer(telegram, CHAT, sent["message_id"])


async def test_temporary_files_are_removed(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    pattern = os.path.join(tempfile.gettempdir(), f"intron-bot-{bot.config.worker_id}", "*")
    before = set(glob.glob(pattern))
    assert before == set(), "start-up clears what a killed process left behind"
    ok = send_voice(telegram, CHAT)
    intron.inject("upload", Fault.rejected(400, "bad audio"))
    await only_answer(telegram, CHAT, ok["message_id"])
    second = send_voice(telegram, CHAT + 1)
    await only_answer(telegram, CHAT + 1, second["message_id"])
    assert set(glob.glob(pattern)) - before == set()


async def test_forty_notes_from_ten_chats_stay_within_the_budget(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    intron.processing_seconds = 3.0
    voice = fixture_bytes(VOICE)
    sent = [
        (chat, telegram.user_message(chat, voice=telegram.voice(voice)))
        for chat in range(5000, 5010)
        for _ in range(4)
    ]
    await telegram.wait_for(
        lambda: sum(len(transcript_replies(telegram, c)) for c in range(5000, 5010)) == 40,
        timeout=180,
    )
    for chat, message in sent:
        assert (
            len(
                [
                    m
                    for m in transcript_replies(telegram, chat)
                    if m["reply_to_message_id"] == message["message_id"]
                ]
            )
            == 1
        )
    assert len(intron.uploads) == 40
    assert intron.max_calls_in_window("upload") <= 60
    assert intron.max_calls_in_window("status") <= 100


async def test_budget_survives_kill_9(
    telegram: FakeTelegram, intron: FakeIntron, tmp_path: Path, database_url: str
) -> None:
    """A restarted process must not spend calls its predecessor already spent."""
    intron.processing_seconds = 8.0
    env = settings_env(
        telegram,
        intron,
        database_url,
        INTRON_STATUS_PER_MINUTE="3",
        INTRON_RATE_WINDOW_SECONDS="6",
    )
    first = BotProcess(env, cwd=tmp_path)
    await first.start()
    for chat in range(6000, 6003):
        send_voice(telegram, chat)
    await intron.wait_for(lambda: len(intron.calls_to("status")) >= 3, timeout=60)
    await first.kill()
    second = BotProcess(env, cwd=tmp_path)
    await second.start()
    try:
        await telegram.wait_for(
            lambda: all(transcript_replies(telegram, c) for c in range(6000, 6003)), timeout=60
        )
    finally:
        assert second.proc is not None
        second.proc.terminate()
        await second.wait(15)
    assert intron.max_calls_in_window("status", 6.0) <= 3
    assert len(intron.uploads) == 3


async def test_kill_9_with_twenty_jobs_in_flight_delivers_each_once(
    telegram: FakeTelegram, intron: FakeIntron, tmp_path: Path, database_url: str
) -> None:
    intron.processing_seconds = 3600  # held at Intron until the restart
    env = settings_env(telegram, intron, database_url)
    first = BotProcess(env, cwd=tmp_path)
    await first.start()
    chats = list(range(7000, 7020))
    for chat in chats:
        send_voice(telegram, chat)

    # Kill once every job is recorded as at Intron: a kill between Intron accepting an upload
    # and the bot storing its file id would (by design) upload that one again after restart.
    async def all_at_intron() -> bool:
        return await count_jobs(database_url, "at_intron") == 20

    await eventually(all_at_intron, what="every job recorded as at Intron", within=60)
    await first.kill()
    assert not any(transcript_replies(telegram, c) for c in chats)

    second = BotProcess(env, cwd=tmp_path)
    await second.start()
    intron.finish()
    try:
        await telegram.wait_for(
            lambda: all(transcript_replies(telegram, c) for c in chats), timeout=60
        )
        # Every job final: a duplicate would have been sent.
        await eventually(lambda: idle(telegram, database_url), what="nothing left to do")
    finally:
        assert second.proc is not None
        second.proc.terminate()
        started = time.monotonic()
        assert await second.wait(15) == 0
        assert time.monotonic() - started < 10  # supervisors SIGKILL 10 s after SIGTERM
    assert len(intron.uploads) == 20
    for chat in chats:
        assert len(transcript_replies(telegram, chat)) == 1


async def test_stop_is_not_lost_when_a_job_wakes_the_scheduler_at_that_moment(
    database_url: str,
) -> None:
    """A job that finishes wakes the scheduler; a stop in that same instant once left the
    loop running for ever (Python 3.11's wait_for swallowed the cancellation), so SIGTERM
    as a result went out never ended the process. Each round stops at another moment of
    the loop's cycle; the wait on `stop()` is hang protection, the fixed stop takes ms."""
    await init_database(database_url)
    try:
        for round_ in range(10):
            scheduler = JobScheduler(cast(Any, None), owner="stop-test", retention_days=30)
            await scheduler.start()
            await asyncio.sleep(round_ * 0.002)  # a different phase each round, not a settle
            scheduler.wake()
            stopping = asyncio.create_task(scheduler.stop(grace=0))
            done, _ = await asyncio.wait({stopping}, timeout=10)
            if not done:
                stopping.cancel()
            assert done, f"stop() hung (round {round_})"
    finally:
        await close_database()


async def test_formatting_refused_falls_back_to_plain_text(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    sent = send_voice(telegram, CHAT)
    await intron.wait_for(lambda: len(intron.uploads) == 1)
    telegram.fail_next("sendMessage", description="Bad Request: can't parse entities: oops")
    assert intron.transcript in await only_answer(telegram, CHAT, sent["message_id"])
    [plain] = transcript_replies(telegram, CHAT)
    assert not plain.get("entities")

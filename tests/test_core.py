"""A voice note in, the transcript out: the product's spine, end to end through the fakes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    PROJECT_ROOT,
    BotProcess,
    RunningBot,
    fixture_bytes,
    replies_to,
    send_voice,
    settings_env,
    texts,
    transcript_replies,
)
from tests.fakes.intron_api import FakeIntron, Fault
from tests.fakes.telegram import FakeTelegram

CHAT = 1001


@pytest.mark.parametrize(
    ("kind", "fixture", "expected_name"),
    [
        ("voice", "voice_consultation.ogg", "voice.ogg"),
        ("audio", "call_center.mp3", "call_center.mp3"),
        ("document", "call_center.m4a", "call_center.m4a"),
        ("video_note", "video_note.mp4", "video_note.mp4"),
        ("video", "video_note.mp4", "clinic_visit.mp4"),
        ("named_document", "call_center.mp3", "recording.mp3"),
    ],
)
async def test_media_becomes_threaded_transcript_with_identical_bytes(
    telegram: FakeTelegram,
    intron: FakeIntron,
    bot: RunningBot,
    kind: str,
    fixture: str,
    expected_name: str,
) -> None:
    data = fixture_bytes(fixture)
    media = {
        "voice": lambda: {"voice": telegram.voice(data)},
        "audio": lambda: {"audio": telegram.audio(data, file_name="call_center.mp3")},
        "document": lambda: {
            "document": telegram.document(data, mime_type="audio/mp4", file_name="call_center.m4a")
        },
        "video_note": lambda: {"video_note": telegram.video_note(data)},
        "video": lambda: {"video": telegram.video(data, file_name="clinic_visit.mp4")},
        # No audio MIME type, but an audio file name: still accepted.
        "named_document": lambda: {
            "document": telegram.document(
                data, mime_type="application/octet-stream", file_name="recording.mp3"
            )
        },
    }[kind]()
    sent = telegram.user_message(CHAT, **media)

    await telegram.wait_for(lambda: bool(transcript_replies(telegram, CHAT)))

    assert len(intron.uploads) == 1
    upload = intron.uploads[0]
    assert upload.blob == data, "Intron must receive exactly the bytes Telegram served"
    # Until a chat chooses otherwise: plain transcription, no category, no flags.
    assert upload.fields == {"audio_file_name": expected_name}
    [reply] = transcript_replies(telegram, CHAT)
    assert reply["reply_to_message_id"] == sent["message_id"]
    assert intron.transcript in reply["text"]
    # The status message ("Received", then progress) makes way for the result.
    [status] = [
        m
        for m in telegram.bot_messages(CHAT, include_deleted=True)
        if m["reply_to_message_id"] == sent["message_id"] and m["message_id"] != reply["message_id"]
    ]
    assert "Received" in telegram.history(CHAT, status["message_id"])[0]["text"]
    await telegram.wait_for(
        lambda: telegram.history(CHAT, status["message_id"])[-1]["event"] == "deleted"
    )


async def test_status_message_arrives_before_intron_finishes(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    """The status message comes before the audio even leaves for Intron: it waits on no
    download, upload or transcription, so it is quick however slow those are (README:
    "within a second"; checked as this order, which no machine's speed can change)."""
    sent = send_voice(telegram, CHAT)
    await telegram.wait_for(lambda: bool(transcript_replies(telegram, CHAT)))

    [status, transcript] = [
        m
        for m in telegram.bot_messages(CHAT, include_deleted=True)
        if m["reply_to_message_id"] == sent["message_id"]
    ]
    history = telegram.history(CHAT, status["message_id"])
    assert "Received" in history[0]["text"]
    [upload] = intron.uploads
    assert history[0]["at"] < upload.received_at
    assert "📝 Transcript" in transcript["text"]


async def test_non_audio_gets_a_short_answer_and_nothing_is_uploaded(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    pdf = telegram.user_message(
        CHAT,
        document=telegram.document(
            fixture_bytes("document.pdf"), mime_type="application/pdf", file_name="x.pdf"
        ),
    )
    hello = telegram.user_message(CHAT, text="hello")
    await telegram.wait_for(lambda: len(telegram.bot_messages(CHAT)) >= 2)
    for message in (pdf, hello):
        [answer] = replies_to(telegram, CHAT, message["message_id"])
        assert "voice note" in answer["text"]
    # A chat's updates are handled in order: once a recording sent after them is
    # transcribed, a job made from either would have been downloaded and uploaded too.
    voice = send_voice(telegram, CHAT)
    await telegram.wait_for(lambda: bool(transcript_replies(telegram, CHAT)))
    assert [u.blob for u in intron.uploads] == [fixture_bytes("voice_consultation.ogg")]
    assert telegram.file_downloads == [voice["voice"]["file_id"]]


async def test_twenty_chats_at_once_all_answered_and_slow_job_delays_nobody(
    telegram: FakeTelegram, intron: FakeIntron, bot: RunningBot
) -> None:
    slow_bytes = fixture_bytes("call_center.mp3")
    # The slow job never finishes within the test, however long the others take.
    intron.processing_time_for = lambda upload: 3600.0 if upload.blob == slow_bytes else 0.5
    telegram.user_message(999, audio=telegram.audio(slow_bytes, file_name="slow.mp3"))
    await intron.wait_for(lambda: len(intron.uploads) == 1)

    voice = fixture_bytes("voice_consultation.ogg")
    chats = list(range(2000, 2020))
    for chat in chats:
        telegram.user_message(chat, voice=telegram.voice(voice))
    await telegram.wait_for(lambda: all(transcript_replies(telegram, c) for c in chats), timeout=60)

    assert len(intron.uploads) == 21
    assert transcript_replies(telegram, 999) == [], "the slow job is still at Intron"
    for chat in chats:
        assert len(transcript_replies(telegram, chat)) == 1


async def test_missing_token_exits_2_with_one_line(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(PROJECT_ROOT),
        "INTRON_API_KEY": "k",
    }
    proc = BotProcess(env, cwd=tmp_path)
    await proc.start()
    code = await proc.wait(30)
    lines = proc.output.decode().strip().splitlines()
    assert code == 2
    assert len(lines) == 1
    assert "TELEGRAM_BOT_TOKEN" in lines[0]
    assert "Traceback" not in proc.output.decode()


async def test_malformed_token_exits_2_naming_it(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(PROJECT_ROOT),
        "TELEGRAM_BOT_TOKEN": "nonsense",
        "INTRON_API_KEY": "k",
    }
    proc = BotProcess(env, cwd=tmp_path)
    await proc.start()
    assert await proc.wait(30) == 2
    assert "TELEGRAM_BOT_TOKEN" in proc.output.decode()


async def test_python_m_bot_serves_against_the_fakes_and_stops_on_sigterm(
    telegram: FakeTelegram, intron: FakeIntron, tmp_path: Path, database_url: str
) -> None:
    proc = BotProcess(settings_env(telegram, intron, database_url), cwd=tmp_path)
    await proc.start()
    sent = telegram.user_message(
        CHAT, voice=telegram.voice(fixture_bytes("voice_consultation.ogg"))
    )
    await telegram.wait_for(lambda: bool(transcript_replies(telegram, CHAT)), timeout=60)
    assert transcript_replies(telegram, CHAT)[0]["reply_to_message_id"] == sent["message_id"]

    assert proc.proc is not None
    proc.proc.terminate()
    started = time.monotonic()
    assert await proc.wait(15) == 0
    # `docker stop` and most supervisors send SIGKILL 10 s after SIGTERM.
    assert time.monotonic() - started < 10
    log = proc.output.decode()
    assert telegram.token not in log and telegram.token.split(":")[1] not in log
    assert intron.api_key not in log
    assert intron.transcript not in log


async def test_local_bot_api_server_lifts_the_20_mb_limit(
    telegram: FakeTelegram, intron: FakeIntron, bot_factory: Any
) -> None:
    running = bot_factory(telegram_local_mode=True)
    await running.start()
    try:
        data = fixture_bytes("voice_consultation.ogg")
        voice = telegram.voice(data)
        voice["file_size"] = 25 * 1024 * 1024  # as Telegram would report a long recording
        telegram.user_message(CHAT, voice=voice)
        await telegram.wait_for(lambda: bool(transcript_replies(telegram, CHAT)))
        assert intron.uploads[0].blob == data
        telegram.user_message(CHAT, text="/help")
        await telegram.wait_for(lambda: "2000 MB" in texts(telegram, CHAT)[-1])
    finally:
        await running.stop()


async def test_a_local_bot_api_servers_copy_is_deleted_once_intron_has_the_audio(
    telegram: FakeTelegram, intron: FakeIntron, bot_factory: Any, tmp_path: Path
) -> None:
    """A local server keeps the files it hands out on its disk (for about a day): the bot
    deletes each one once uploaded, and not before, so a failed upload can read it again."""
    server_folder = tmp_path / "telegram-bot-api"
    telegram.local_files_dir = server_folder
    running = bot_factory(telegram_local_mode=True)
    await running.start()
    try:
        data = fixture_bytes("voice_consultation.ogg")
        intron.inject("upload", Fault.server_error(503))  # the first upload fails
        telegram.user_message(CHAT, voice=telegram.voice(data))
        await telegram.wait_for(lambda: bool(transcript_replies(telegram, CHAT)), timeout=60)
        assert [u.blob for u in intron.uploads] == [data], "the retry read the same bytes"
        assert len(telegram.calls("getFile")) == 2
        assert not [p for p in server_folder.rglob("*") if p.is_file()]
    finally:
        await running.stop()

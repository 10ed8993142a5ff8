"""Webhook mode: Telegram POSTs updates to the bot, which answers 200 only once they are stored."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from telegram import Bot

from tests.conftest import (
    PROJECT_ROOT,
    WEBHOOK_PATH,
    WEBHOOK_SECRET,
    BotProcess,
    RunningBot,
    count_rows,
    database_writes_blocked,
    eventually,
    free_port,
    idle,
    replies_to,
    send_voice,
    settings_env,
    texts,
    transcript_replies,
    webhook_config,
)
from tests.fakes.intron_api import FakeIntron
from tests.fakes.telegram import FakeTelegram

CHAT = 8001
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
async def webhook_bot(bot_factory: Callable[..., RunningBot], port: int) -> Any:
    running = bot_factory(**webhook_config(port))
    await running.start()
    yield running
    await running.stop()


def webhook_url(port: int, path: str = WEBHOOK_PATH) -> str:
    return f"http://127.0.0.1:{port}{path}"


def voice_update(telegram: FakeTelegram, update_id: int, chat: int = CHAT) -> dict[str, Any]:
    """A voice-note update as Telegram would POST it (not queued at the fake)."""
    message = send_voice(telegram, chat, enqueue=False)
    return {"update_id": update_id, "message": message}


def webhook_env(
    telegram: FakeTelegram, intron: FakeIntron, database_url: str, port: int, **extra: str
) -> dict[str, str]:
    values = webhook_config(port)
    return settings_env(
        telegram,
        intron,
        database_url,
        WEBHOOK_URL=values["webhook_url"],
        WEBHOOK_SECRET=values["webhook_secret"],
        PORT=str(port),
        **extra,
    )


async def test_voice_notes_posted_by_telegram_are_transcribed(
    telegram: FakeTelegram, intron: FakeIntron, webhook_bot: RunningBot, port: int
) -> None:
    [registered] = telegram.calls("setWebhook")
    assert registered["url"] == webhook_url(port)
    assert registered["secret_token"] == WEBHOOK_SECRET
    assert sorted(registered["allowed_updates"]) == ["callback_query", "message"]
    assert registered.get("drop_pending_updates") in (None, False)

    sent = [send_voice(telegram, chat) for chat in (CHAT, CHAT + 1)]
    await telegram.wait_for(lambda: all(transcript_replies(telegram, c) for c in (CHAT, CHAT + 1)))
    for chat, message in zip((CHAT, CHAT + 1), sent, strict=True):
        [reply] = transcript_replies(telegram, chat)
        assert reply["reply_to_message_id"] == message["message_id"]
    assert len(intron.uploads) == 2
    assert telegram.calls("getUpdates") == []
    info = telegram.webhook_info()
    assert info["url"] == webhook_url(port) and info["pending_update_count"] == 0
    async with httpx.AsyncClient() as client:
        health = await client.get(webhook_url(port, "/healthz"))
    assert health.status_code == 200 and health.text == "ok"


async def test_wrong_or_missing_secret_is_refused_and_nothing_is_stored(
    telegram: FakeTelegram,
    intron: FakeIntron,
    webhook_bot: RunningBot,
    port: int,
    database_url: str,
) -> None:
    update = voice_update(telegram, 900_001)
    async with httpx.AsyncClient() as client:
        wrong = await client.post(
            webhook_url(port), json=update, headers={SECRET_HEADER: "not-the-secret"}
        )
        missing = await client.post(webhook_url(port), json=update)
    assert (wrong.status_code, missing.status_code) == (403, 403)
    # Refused before anything is read or stored (the 403 comes after that decision), so
    # nothing can be stored later; the bot being idle says nothing waits in it either.
    await eventually(lambda: idle(telegram), what="nothing left to do")
    assert await count_rows(database_url, "inbox_updates") == 0
    assert await count_rows(database_url, "jobs") == 0
    assert telegram.bot_messages(CHAT) == []
    assert telegram.calls("getFile") == [] and intron.uploads == []


async def test_update_delivered_twice_is_handled_once(
    telegram: FakeTelegram, intron: FakeIntron, webhook_bot: RunningBot
) -> None:
    telegram.user_message(CHAT, text="/help")
    twice = dict(telegram.last_update or {})
    telegram.push_update(twice)  # same update_id: Telegram sending it again
    await telegram.wait_for(lambda: len(telegram.webhook_deliveries) == 2)
    assert [status for _, status in telegram.webhook_deliveries] == [200, 200]
    await telegram.wait_for(lambda: bool(telegram.bot_messages(CHAT)))
    # Every update handled: a second answer would have been sent.
    await eventually(lambda: idle(telegram), what="nothing left to do")
    assert len(telegram.bot_messages(CHAT)) == 1


async def chunked() -> AsyncIterator[bytes]:
    """A 1.3 MB body sent without Content-Length: the bot must count it as it comes."""
    yield b'{"update_id": 8, "message": {"text": "'
    for _ in range(20):
        yield b"x" * 65536


async def test_body_that_is_not_an_update_gets_400_and_oversize_is_refused(
    telegram: FakeTelegram, webhook_bot: RunningBot, port: int, database_url: str
) -> None:
    headers = {SECRET_HEADER: WEBHOOK_SECRET}
    # Nested past Python's recursion limit (was a 500), and a real update carrying a field
    # nested deeper than any update does (it would parse, but might not parse again when
    # read back from the inbox).
    too_deep = b'{"update_id": 9, "message": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    update = voice_update(telegram, 10)
    nested = json.loads("[" * 200 + "]" * 200)
    deep = json.dumps({**update, "message": {**update["message"], "extra": nested}}).encode()
    async with httpx.AsyncClient() as client:
        answers = [
            await client.post(webhook_url(port), content=body, headers=headers)
            for body in (
                b"not json",
                b"[1, 2]",
                b'{"message": {}}',
                b'{"update_id": "7"}',
                too_deep,
                deep,
            )
        ]
        answers.append(
            await client.post(
                webhook_url(port), json={"update_id": 5, "message": "nonsense"}, headers=headers
            )
        )
        huge = {"update_id": 6, "message": {"text": "x" * (1024 * 1024)}}
        too_big = await client.post(webhook_url(port), json=huge, headers=headers)
        streamed = await client.post(webhook_url(port), content=chunked(), headers=headers)
    assert [a.status_code for a in answers] == [400] * 7
    assert too_big.status_code == 413 and streamed.status_code == 413
    assert await count_rows(database_url, "inbox_updates") == 0


async def test_database_down_answers_503_and_telegram_delivers_again_later(
    telegram: FakeTelegram,
    intron: FakeIntron,
    webhook_bot: RunningBot,
    port: int,
    database_url: str,
) -> None:
    async with database_writes_blocked(database_url):
        sent = send_voice(telegram, CHAT)
        await telegram.wait_for(lambda: bool(telegram.webhook_deliveries), timeout=15)
        assert telegram.webhook_deliveries[0][1] == 503
        async with httpx.AsyncClient(timeout=15) as client:
            health = await client.get(webhook_url(port, "/healthz"))
        assert health.status_code == 503
        assert "503" in (telegram.webhook_info().get("last_error_message") or "")
    text = await only_transcript(telegram, CHAT, sent["message_id"])
    assert intron.transcript in text
    assert telegram.webhook_deliveries[-1][1] == 200


async def only_transcript(
    telegram: FakeTelegram, chat: int, message_id: int, database_url: str | None = None
) -> str:
    """The one transcript; `database_url` for a bot process (else the bot in this loop)."""
    # Hang protection only. For a bot process just started it covers the start too (imports,
    # menus, webhook), which took over 20 s beside a busy PostgreSQL pass.
    await telegram.wait_for(lambda: bool(transcript_replies(telegram, chat)), timeout=60)
    # Every update handled, every job final: a duplicate would have been sent.
    await eventually(lambda: idle(telegram, database_url), what="nothing left to do")
    [reply] = transcript_replies(telegram, chat)
    assert reply["reply_to_message_id"] == message_id
    return str(reply["text"])


async def test_kill_9_right_after_a_200_still_transcribes_after_restart(
    telegram: FakeTelegram, intron: FakeIntron, tmp_path: Path, database_url: str, port: int
) -> None:
    env = webhook_env(telegram, intron, database_url, port)
    first = BotProcess(env, cwd=tmp_path)
    await first.start()
    await telegram.wait_for(lambda: bool(telegram.calls("setWebhook")), timeout=30)
    # The chat's first update (/help) waits on its reply, so the voice note behind it can only
    # be in the inbox when the process dies: nothing has been done with it yet.
    replies = telegram.hold("sendMessage")
    telegram.user_message(CHAT, text="/help")
    # The process still publishes its menus after setWebhook: the fakes' usual guard.
    await telegram.wait_for(lambda: bool(telegram.calls("sendMessage")), timeout=30)
    voice = send_voice(telegram, CHAT)
    voice_update_id = (telegram.last_update or {})["update_id"]
    assert first.proc is not None
    killed = first.proc
    telegram.on_confirmed(lambda ids: killed.kill() if voice_update_id in ids else None)
    assert await first.wait(15) == -9
    replies.drop()
    assert telegram.webhook_info()["pending_update_count"] == 0, "Telegram forgot it"
    assert await count_rows(database_url, "jobs") == 0
    assert await count_rows(database_url, "inbox_updates", "handled_at IS NULL") == 2

    second = BotProcess(env, cwd=tmp_path)
    await second.start()
    try:
        assert intron.transcript in await only_transcript(
            telegram, CHAT, voice["message_id"], database_url
        )
        assert any("/help" in t for t in texts(telegram, CHAT)), "the /help before it, too"
    finally:
        assert second.proc is not None
        second.proc.terminate()
        assert await second.wait(15) == 0
    assert len(intron.uploads) == 1


async def test_sigterm_refuses_new_requests_finishes_those_in_flight_keeps_the_webhook(
    telegram: FakeTelegram, intron: FakeIntron, tmp_path: Path, database_url: str, port: int
) -> None:
    env = webhook_env(telegram, intron, database_url, port, LOG_LEVEL="DEBUG")
    proc = BotProcess(env, cwd=tmp_path)
    await proc.start()
    await proc.wait_for_output("bot started")
    headers = {SECRET_HEADER: WEBHOOK_SECRET}
    async with httpx.AsyncClient(timeout=20) as client:
        async with database_writes_blocked(database_url):
            in_flight = asyncio.create_task(
                client.post(
                    webhook_url(port), json=voice_update(telegram, 900_010), headers=headers
                )
            )
            await proc.wait_for_output("webhook: update 900010 received")
            assert proc.proc is not None
            proc.proc.terminate()
            await proc.wait_for_output("stopping")
            late = await client.post(
                webhook_url(port), json=voice_update(telegram, 900_011), headers=headers
            )
            health = await client.get(webhook_url(port, "/healthz"))
        assert (late.status_code, health.status_code) == (503, 503)
        assert (await in_flight).status_code == 200
    started = time.monotonic()
    assert await proc.wait(20) == 0
    assert time.monotonic() - started < 15
    assert telegram.calls("deleteWebhook") == []
    assert telegram.webhook_info()["url"] == webhook_url(port)
    assert await count_rows(database_url, "inbox_updates", "update_id = 900010") == 1
    assert await count_rows(database_url, "inbox_updates", "update_id = 900011") == 0


async def test_webhook_mode_without_a_secret_exits_2_with_one_line(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(PROJECT_ROOT),
        "TELEGRAM_BOT_TOKEN": "123:abc",
        "INTRON_API_KEY": "k",
        "WEBHOOK_URL": "https://bot.example.org/telegram",
    }
    proc = BotProcess(env, cwd=tmp_path)
    await proc.start()
    assert await proc.wait(30) == 2
    lines = proc.output.decode().strip().splitlines()
    assert len(lines) == 1 and "WEBHOOK_SECRET is required" in lines[0]
    assert "Traceback" not in lines[0]


async def test_port_in_use_or_url_refused_by_telegram_exits_2_with_one_line(
    telegram: FakeTelegram, intron: FakeIntron, tmp_path: Path, database_url: str, port: int
) -> None:
    with socket.create_server(("0.0.0.0", port)):
        taken = BotProcess(webhook_env(telegram, intron, database_url, port), cwd=tmp_path)
        await taken.start()
        assert await taken.wait(30) == 2
    env = webhook_env(telegram, intron, database_url, free_port())
    # Telegram wants https. The bot refuses http itself, but not for a loopback address (a
    # local Bot API server's, or the fake's): that is left for Telegram to refuse.
    env["WEBHOOK_URL"] = "http://localhost/telegram"
    refused = BotProcess(env, cwd=tmp_path)
    await refused.start()
    assert await refused.wait(30) == 2
    assert telegram.calls("setWebhook"), "refused by Telegram, not by the bot"
    for process, words in (
        (taken, f"cannot listen on 0.0.0.0:{port} (PORT): Address already in use"),
        (
            refused,
            "(TELEGRAM_BASE_URL) refused "
            "WEBHOOK_URL=http://localhost/telegram: "
            "Bad webhook: an https url must be provided for webhook",
        ),
    ):
        output = process.output.decode()
        [line] = output.splitlines()
        assert line.endswith(words), line
        assert "Traceback" not in output


async def test_polling_deletes_the_webhook_and_loses_nothing_pending(
    telegram: FakeTelegram, intron: FakeIntron, bot_factory: Callable[..., RunningBot]
) -> None:
    """Switching from webhook to polling mode: what Telegram holds for the webhook arrives."""
    async with Bot(telegram.token, base_url=telegram.base_url) as other:
        await other.set_webhook(f"http://127.0.0.1:{free_port()}/gone")  # nobody listens there
    sent = send_voice(telegram, CHAT)
    await telegram.wait_for(lambda: bool(telegram.webhook_deliveries))
    running = bot_factory()
    await running.start()
    try:
        assert intron.transcript in await only_transcript(telegram, CHAT, sent["message_id"])
        [deleted] = telegram.calls("deleteWebhook")
        assert deleted.get("drop_pending_updates") in (None, False)
        assert replies_to(telegram, CHAT, sent["message_id"])
    finally:
        await running.stop()

"""`python -m bot` that cannot start says why in one line and exits non-zero, without a
traceback; network trouble at start-up is waited out first."""

from __future__ import annotations

import json
import shutil
import socket
import time
from pathlib import Path

import pytest

from tests.conftest import (
    PROJECT_ROOT,
    BotProcess,
    send_voice,
    settings_env,
    transcript_replies,
)
from tests.fakes.intron_api import FakeIntron
from tests.fakes.telegram import FakeTelegram

NO_RETRY = {"STARTUP_RETRY_SECONDS": "0"}
# A start-up that gives up over a setting does so at once; this is the time a process takes
# to import and parse, with room for a busy machine.
GIVES_UP_WITHIN_SECONDS = 15.0


async def failed_start(env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run the bot until it gives up; its exit status and its one line of output."""
    proc = BotProcess(env, cwd=cwd)
    await proc.start()
    status = await proc.wait(60)  # hang protection only
    output = proc.output.decode()
    assert "Traceback" not in output
    lines = output.splitlines()
    assert len(lines) == 1, f"expected one line, got: {output}"
    return status, lines[0]


async def test_env_copied_from_the_example_names_the_empty_settings(tmp_path: Path) -> None:
    shutil.copy(PROJECT_ROOT / ".env.example", tmp_path / ".env")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT_ROOT)}
    status, line = await failed_start(env, tmp_path)
    assert status == 2
    assert line == (
        "Configuration error: TELEGRAM_BOT_TOKEN is empty (set it in .env); "
        "INTRON_API_KEY is empty (set it in .env)"
    )


async def test_unreachable_telegram_names_the_host_and_the_setting(
    telegram: FakeTelegram,
    intron: FakeIntron,
    database_url: str,
    tmp_path: Path,
    refusing_socket: socket.socket,
) -> None:
    port = refusing_socket.getsockname()[1]
    env = settings_env(
        telegram, intron, database_url, TELEGRAM_BASE_URL=f"http://127.0.0.1:{port}/bot", **NO_RETRY
    )
    status, line = await failed_start(env, tmp_path)
    assert status == 1
    assert f"Telegram unreachable at 127.0.0.1:{port} (TELEGRAM_BASE_URL)" in line
    assert telegram.token not in line


async def test_rejected_token_says_so(
    telegram: FakeTelegram, intron: FakeIntron, database_url: str, tmp_path: Path
) -> None:
    token = "999999:REJECTED-token-value"
    env = settings_env(telegram, intron, database_url, TELEGRAM_BOT_TOKEN=token)
    status, line = await failed_start(env, tmp_path)
    assert status == 2, "retrying cannot help: the operator must fix the token"
    assert "rejected TELEGRAM_BOT_TOKEN (Unauthorized): copy it again from @BotFather" in line
    assert "REJECTED-token-value" not in line


async def test_unreachable_database_is_named_without_its_password(
    telegram: FakeTelegram, intron: FakeIntron, tmp_path: Path, refusing_socket: socket.socket
) -> None:
    port = refusing_socket.getsockname()[1]
    url = f"postgres://bot:s3cret-pw@127.0.0.1:{port}/bot"
    status, line = await failed_start(settings_env(telegram, intron, url, **NO_RETRY), tmp_path)
    assert status == 1
    assert "database unreachable at 127.0.0.1" in line
    assert f"DATABASE_URL=postgres://bot:***@127.0.0.1:{port}/bot" in line
    assert "s3cret-pw" not in line


async def test_metrics_port_in_use(
    telegram: FakeTelegram, intron: FakeIntron, database_url: str, tmp_path: Path
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        env = settings_env(
            telegram, intron, database_url, METRICS_HOST="127.0.0.1", METRICS_PORT=str(port)
        )
        status, line = await failed_start(env, tmp_path)
    assert status == 2
    assert line.endswith(
        f"cannot listen on 127.0.0.1:{port} (METRICS_HOST, METRICS_PORT): Address already in use"
    )


async def test_json_log_lines_carry_the_failure_with_the_same_redaction(
    telegram: FakeTelegram, intron: FakeIntron, database_url: str, tmp_path: Path
) -> None:
    token = "999999:REJECTED-token-value"
    env = settings_env(telegram, intron, database_url, TELEGRAM_BOT_TOKEN=token, LOG_FORMAT="json")
    status, line = await failed_start(env, tmp_path)
    assert status == 2
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["logger"] == "bot"
    assert "rejected TELEGRAM_BOT_TOKEN" in entry["message"]
    assert "REJECTED-token-value" not in line


async def test_telegram_coming_up_late_is_waited_for(
    telegram: FakeTelegram,
    intron: FakeIntron,
    database_url: str,
    tmp_path: Path,
    refusing_socket: socket.socket,
) -> None:
    """A container that starts before its network: no crash, it serves once Telegram answers."""
    port = refusing_socket.getsockname()[1]
    env = settings_env(
        telegram,
        intron,
        database_url,
        TELEGRAM_BASE_URL=f"http://127.0.0.1:{port}/bot",
        TELEGRAM_BASE_FILE_URL=f"http://127.0.0.1:{port}/file/bot",
        STARTUP_RETRY_SECONDS="60",
    )
    proc = BotProcess(env, cwd=tmp_path)
    await proc.start()
    late = FakeTelegram()
    try:
        warning = await proc.read_until("trying again", within=30)
        assert f"Telegram unreachable at 127.0.0.1:{port}" in warning
        await late.start(sock=refusing_socket)  # Telegram answers from now on
        send_voice(late, 4101)
        await late.wait_for(lambda: bool(transcript_replies(late, 4101)), timeout=60)
    finally:
        # Stopping cleanly is test_core's subject; here only serving after the wait is.
        await proc.kill()
        await late.stop()
    assert "Traceback" not in proc.output.decode()


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"LOG_LEVEL": "verbose"},
            "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL ('verbose' is not one)",
        ),
        (
            {"DATABASE_URL": "mysql://bot:s3cret-pw@127.0.0.1/bot"},
            "DATABASE_URL uses mysql://, which this bot does not support: use "
            "sqlite://data/bot.sqlite3 (a file) or postgres://user:password@host:5432/dbname",
        ),
        ({"DATABASE_URL": "sqlite://:memory:"}, "DATABASE_URL is an in-memory SQLite database"),
        (
            {"ALLOWED_CHAT_IDS": "-1001234567890, @clinic_group"},
            "ALLOWED_CHAT_IDS must be numeric chat ids separated by commas, not @usernames or "
            "names ('@clinic_group' is not one); to find a chat's id, start the bot with "
            "ALLOWED_CHAT_IDS=0 and message it from that chat: it answers with the chat's id",
        ),
        (
            {"WEBHOOK_URL": "https://bot.example.org/telegram/hook", "WEBHOOK_SECRET": ""},
            "WEBHOOK_SECRET is required because WEBHOOK_URL is set",
        ),
        (
            {"WEBHOOK_URL": "http://bot.example.org/telegram/hook", "WEBHOOK_SECRET": "abc"},
            "WEBHOOK_URL must start with https://: Telegram delivers webhooks only over HTTPS",
        ),
    ],
    ids=["log-level", "mysql", "memory", "chat-id", "webhook-secret", "webhook-http"],
)
async def test_a_bad_setting_ends_in_one_line_naming_it(
    telegram: FakeTelegram,
    intron: FakeIntron,
    database_url: str,
    tmp_path: Path,
    settings: dict[str, str],
    expected: str,
) -> None:
    env = settings_env(telegram, intron, database_url, **settings)
    began = time.monotonic()
    status, line = await failed_start(env, tmp_path)
    assert time.monotonic() - began < GIVES_UP_WITHIN_SECONDS
    assert status == 2
    assert line.startswith("Configuration error: ")
    assert expected in line
    assert "s3cret-pw" not in line
    assert telegram.requests == [], "nothing started"

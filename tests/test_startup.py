"""`python -m bot` that cannot start says why in one line and exits non-zero, without a
traceback; network trouble at start-up is waited out first."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

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
# A start-up that gives up over a setting does so at once: this is what starting Python and
# importing takes on a busy machine (2 s on an idle one; over 15 s seen beside other suites),
# and less than the silent 40 s and more such a start-up used to take.
GIVES_UP_WITHIN_SECONDS = 30.0
# A stop request during start-up is obeyed within this (under 1 s on an idle machine):
# `docker stop` and most supervisors send SIGKILL 10 s after SIGTERM.
STOPS_WITHIN_SECONDS = 8.0


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


def _not_a_database(tmp_path: Path) -> Path:
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping list\n")
    return notes


def _under_a_file(tmp_path: Path) -> Path:
    return _not_a_database(tmp_path) / "bot.sqlite3"


def _in_a_read_only_folder(tmp_path: Path) -> Path:
    if os.geteuid() == 0:
        pytest.skip("root may write to any folder")
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o500)
    return folder / "bot.sqlite3"


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (_not_a_database, "{path} is not a SQLite database file"),
        (_under_a_file, "{tmp_path}/notes.txt is not a folder"),
        (_in_a_read_only_folder, "cannot create {path}: this user may not write to the folder"),
    ],
    ids=["not-a-database", "under-a-file", "read-only-folder"],
)
async def test_a_sqlite_file_that_cannot_be_used_ends_in_one_line(
    telegram: FakeTelegram, intron: FakeIntron, tmp_path: Path, where: Any, expected: str
) -> None:
    path = where(tmp_path)
    notes = tmp_path / "notes.txt"
    before = notes.read_bytes() if notes.exists() else None
    env = settings_env(telegram, intron, f"sqlite://{path}")
    began = time.monotonic()
    status, line = await failed_start(env, tmp_path)
    assert time.monotonic() - began < GIVES_UP_WITHIN_SECONDS
    assert status == 2
    assert f"cannot use the SQLite database (DATABASE_URL=sqlite://{path}): " in line
    assert expected.format(path=path, tmp_path=tmp_path) in line
    assert (notes.read_bytes() if notes.exists() else None) == before, "left as it was"


@contextlib.asynccontextmanager
async def silent_database() -> AsyncIterator[tuple[int, asyncio.Event]]:
    """A loopback port that accepts connections and never answers (a database host whose
    server hangs); the event is set once the bot has connected."""
    connected = asyncio.Event()
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        connected.set()
        await reader.read()  # until the bot hangs up

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], connected
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_database_that_never_answers_gives_up_at_the_deadline(
    telegram: FakeTelegram, intron: FakeIntron, tmp_path: Path
) -> None:
    async with silent_database() as (port, connected):
        url = f"postgres://bot:s3cret-pw@127.0.0.1:{port}/bot"
        env = settings_env(telegram, intron, url, DATABASE_TIMEOUT_SECONDS="1", **NO_RETRY)
        status, line = await failed_start(env, tmp_path)
        assert connected.is_set()
    assert status == 1, "a database may answer later: not a configuration error"
    assert (
        f"opening the database and applying migrations (DATABASE_URL=postgres://bot:***@"
        f"127.0.0.1:{port}/bot) did not finish within 1s (DATABASE_TIMEOUT_SECONDS)"
    ) in line
    assert "s3cret-pw" not in line


async def assert_stops_during_startup(proc: BotProcess, sig: signal.Signals) -> None:
    assert proc.proc is not None
    proc.proc.send_signal(sig)
    began = time.monotonic()
    status = await proc.wait(30)  # hang protection only
    assert time.monotonic() - began < STOPS_WITHIN_SECONDS
    assert status == 0, "stopping was asked for"
    output = proc.output.decode()
    assert "Traceback" not in output
    assert output.splitlines()[-1].endswith("INFO bot: stopped during start-up, as asked")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_stop_request_is_obeyed_while_the_database_does_not_answer(
    telegram: FakeTelegram, intron: FakeIntron, tmp_path: Path, sig: signal.Signals
) -> None:
    async with silent_database() as (port, connected):
        url = f"postgres://bot:s3cret-pw@127.0.0.1:{port}/bot"
        env = settings_env(
            telegram, intron, url, DATABASE_TIMEOUT_SECONDS="600", STARTUP_RETRY_SECONDS="600"
        )
        proc = BotProcess(env, cwd=tmp_path)
        await proc.start()
        try:
            # Connected, waiting for an answer that never comes: start-up is under way.
            await asyncio.wait_for(connected.wait(), 30)
            await assert_stops_during_startup(proc, sig)
        finally:
            if proc.proc is not None and proc.proc.returncode is None:
                await proc.kill()
    assert len(proc.output.decode().splitlines()) == 1
    assert telegram.requests == [], "it never got as far as Telegram"


async def test_a_stop_request_is_obeyed_while_the_sqlite_file_is_locked(
    telegram: FakeTelegram, intron: FakeIntron, tmp_path: Path
) -> None:
    path = tmp_path / "bot.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        # Another process in the middle of a write: nobody else may even read the file.
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("CREATE TABLE elsewhere (x)")
        env = settings_env(telegram, intron, f"sqlite://{path}", STARTUP_RETRY_SECONDS="600")
        proc = BotProcess(env, cwd=tmp_path)
        await proc.start()
        try:
            line = await proc.read_until("trying again", within=30)
            assert f"cannot open the SQLite database (DATABASE_URL=sqlite://{path}): " in line
            assert f"{path} is locked by another process" in line
            await assert_stops_during_startup(proc, signal.SIGTERM)
        finally:
            if proc.proc is not None and proc.proc.returncode is None:
                await proc.kill()
    finally:
        holder.close()

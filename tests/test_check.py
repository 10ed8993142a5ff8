"""`python -m bot check`: one line per dependency, against the fakes, for each way it can fail."""

from __future__ import annotations

import io
import os
import re
import socket
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.ops import check
from bot.ops.check import PROBE_FILE_ID, check_webhook, run_checks
from storage.db import close_database, init_database, sqlite_path
from tests.conftest import (
    PROJECT_ROOT,
    WEBHOOK_PATH,
    BotProcess,
    RunningBot,
    database_writes_blocked,
    free_port,
    make_config,
    settings_env,
    webhook_config,
)
from tests.fakes.intron_api import FakeIntron, Fault
from tests.fakes.telegram import FakeTelegram


@pytest.fixture
async def migrated(database_url: str) -> str:
    """A database the bot has started on once: every migration applied."""
    await init_database(database_url)
    await close_database()
    return database_url


async def run_check(
    telegram: FakeTelegram, intron: FakeIntron, database_url: str, **overrides: Any
) -> tuple[int, dict[str, str]]:
    config = make_config(telegram, intron, database_url, **overrides)
    out = io.StringIO()
    status = await run_checks(config, out=out)
    lines = out.getvalue().splitlines()
    by_name = {line.split(":", 1)[0].split()[-1]: line for line in lines}
    assert len(by_name) == len(lines), "one line per check"
    return status, by_name


async def test_everything_answers(
    telegram: FakeTelegram, intron: FakeIntron, migrated: str
) -> None:
    status, lines = await run_check(telegram, intron, migrated)
    assert status == 0
    assert set(lines) == {"telegram", "intron", "database", "encryption"}
    assert all(line.startswith("ok ") for line in lines.values())
    assert "@intron_test_bot" in lines["telegram"]
    count = len(list((PROJECT_ROOT / "storage" / "migrations").glob("0*.py")))
    assert f"all {count} migrations applied" in lines["database"]
    # The key was proved with one status query for an id no upload has: no job at Intron.
    assert [c[0] for c in intron.calls] == ["status"]
    assert intron.status_calls_for(PROBE_FILE_ID) == 1
    assert intron.uploads == []


async def test_wrong_token_and_wrong_key_are_named_and_never_shown(
    telegram: FakeTelegram, intron: FakeIntron, migrated: str
) -> None:
    token, key = "999999:WRONG-token-value", "wrong-intron-key"
    status, lines = await run_check(
        telegram, intron, migrated, telegram_bot_token=token, intron_api_key=key
    )
    assert status == 1
    assert lines["telegram"].startswith("FAIL")
    assert "rejected TELEGRAM_BOT_TOKEN (Unauthorized)" in lines["telegram"]
    assert lines["intron"].startswith("FAIL")
    assert "rejected INTRON_API_KEY (HTTP 401" in lines["intron"]
    assert lines["database"].startswith("ok")
    printed = "\n".join(lines.values())
    assert "WRONG-token-value" not in printed and key not in printed


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (None, "Intron unreachable at 127.0.0.1:{port} (INTRON_BASE_URL)"),
        (Fault.slow(5), "did not answer within 0.5s"),
        (Fault.server_error(503), "is in trouble (HTTP 503 from Intron)"),
        (Fault.garbage(), "does not answer like Intron's API"),
    ],
    ids=["unreachable", "timeout", "server-error", "not-intron"],
)
async def test_intron_trouble_is_told_apart_from_a_rejected_key(
    telegram: FakeTelegram,
    intron: FakeIntron,
    migrated: str,
    refusing_socket: socket.socket,
    monkeypatch: pytest.MonkeyPatch,
    fault: Fault | None,
    expected: str,
) -> None:
    if "did not answer" in expected:
        # Short only where the timeout is the subject (the answer comes ten times later):
        # elsewhere a busy machine's slow answer must not pass for a timeout.
        monkeypatch.setattr(check, "CHECK_TIMEOUT_SECONDS", 0.5)
    port = refusing_socket.getsockname()[1]
    overrides: dict[str, Any] = {}
    if fault is None:
        overrides["intron_base_url"] = f"http://127.0.0.1:{port}"
    else:
        intron.inject("status", fault)
    status, lines = await run_check(telegram, intron, migrated, **overrides)
    assert status == 1
    assert lines["intron"].startswith("FAIL")
    assert expected.format(port=port) in lines["intron"]
    assert "INTRON_API_KEY" not in lines["intron"]


async def test_unreachable_telegram_names_host_and_setting(
    telegram: FakeTelegram, intron: FakeIntron, migrated: str, refusing_socket: socket.socket
) -> None:
    port = refusing_socket.getsockname()[1]
    status, lines = await run_check(
        telegram, intron, migrated, telegram_base_url=f"http://127.0.0.1:{port}/bot"
    )
    assert status == 1
    assert f"Telegram unreachable at 127.0.0.1:{port} (TELEGRAM_BASE_URL)" in lines["telegram"]


async def test_sqlite_database_before_the_first_start(
    telegram: FakeTelegram, intron: FakeIntron, tmp_path: Path
) -> None:
    """A new setup: the file (and its folder) are created when the bot first starts."""
    path = tmp_path / "data" / "bot.sqlite3"
    status, lines = await run_check(telegram, intron, f"sqlite://{path}")
    assert status == 0
    assert lines["database"] == (
        f"ok    database: {path} not created yet (DATABASE_URL=sqlite://{path}): "
        "created at first start"
    )
    assert not (tmp_path / "data").exists(), "check creates nothing"


async def test_sqlite_database_that_cannot_be_created_or_used(
    telegram: FakeTelegram, intron: FakeIntron, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping list\n")
    under_a_file = notes / "bot.sqlite3"
    status, lines = await run_check(telegram, intron, f"sqlite://{under_a_file}")
    assert status == 1
    assert lines["database"] == (
        f"FAIL  database: cannot use the SQLite database (DATABASE_URL=sqlite://{under_a_file}): "
        f"{notes} is not a folder"
    )
    status, lines = await run_check(telegram, intron, f"sqlite://{notes}")
    assert status == 1
    assert lines["database"].endswith(f"{notes} is not a SQLite database file")
    assert notes.read_text() == "shopping list\n"
    assert lines["telegram"].startswith("ok") and lines["intron"].startswith("ok")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to any folder")
async def test_sqlite_database_in_a_folder_this_user_may_not_write(
    telegram: FakeTelegram, intron: FakeIntron, tmp_path: Path
) -> None:
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o500)
    path = folder / "data" / "bot.sqlite3"
    status, lines = await run_check(telegram, intron, f"sqlite://{path}")
    assert status == 1
    assert lines["database"].startswith("FAIL")
    assert (
        f"cannot create {path}: this user may not write to the folder {folder}"
        in (lines["database"])
    )


async def test_python_m_bot_check_in_a_fresh_folder(
    telegram: FakeTelegram, intron: FakeIntron, tmp_path: Path
) -> None:
    """A new clone with .env filled in and the default DATABASE_URL: every line ok."""
    env = settings_env(telegram, intron, "sqlite://data/bot.sqlite3")
    command = BotProcess(env, cwd=tmp_path)
    await command.start(["check"])
    assert await command.wait(60) == 0, command.output.decode()
    assert "ok    database: data/bot.sqlite3 not created yet" in command.output.decode()
    assert not (tmp_path / "data").exists()


async def test_unreachable_postgres_hides_the_password(
    telegram: FakeTelegram, intron: FakeIntron, refusing_socket: socket.socket
) -> None:
    port = refusing_socket.getsockname()[1]
    url = f"postgres://bot:s3cret-pw@127.0.0.1:{port}/bot"
    status, lines = await run_check(telegram, intron, url)
    assert status == 1
    assert "database unreachable at 127.0.0.1" in lines["database"]
    assert f"DATABASE_URL=postgres://bot:***@127.0.0.1:{port}/bot" in lines["database"]
    assert "s3cret-pw" not in "\n".join(lines.values())


async def test_a_password_that_is_a_common_word_or_a_letter_mangles_nothing(
    telegram: FakeTelegram, intron: FakeIntron, migrated: str, refusing_socket: socket.socket
) -> None:
    port = refusing_socket.getsockname()[1]
    url = f"postgres://postgres:postgres@127.0.0.1:{port}/postgres"
    status, lines = await run_check(telegram, intron, url)
    assert status == 1
    assert lines["database"] == (
        "FAIL  database: database unreachable at 127.0.0.1 "
        f"(DATABASE_URL=postgres://postgres:***@127.0.0.1:{port}/postgres): connection refused"
    )
    # A one-letter secret is blanked nowhere: it would be blanked in every word.
    status, lines = await run_check(telegram, intron, migrated, webhook_secret="p")
    assert "(HTTP 404 for a made-up file id)" in lines["intron"]
    assert "[redacted]" not in "\n".join(lines.values())


async def test_migrations_behind_or_ahead_of_the_code(
    telegram: FakeTelegram, intron: FakeIntron, migrated: str
) -> None:
    path = sqlite_path(migrated)
    if path is None:
        pytest.skip("edits the migration table with sqlite3")
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM tortoise_migrations WHERE name = '0004_job_transcribed_at'")
    status, lines = await run_check(telegram, intron, migrated)
    assert status == 1
    assert "migrations not applied yet: 0004_job_transcribed_at" in lines["database"]

    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO tortoise_migrations (app, name, applied_at) "
            "VALUES ('models', '0004_job_transcribed_at', '2026-01-01'), "
            "('models', '0099_from_the_future', '2026-01-02')"
        )
    status, lines = await run_check(telegram, intron, migrated)
    assert status == 1
    assert "does not know: 0099_from_the_future" in lines["database"]


async def webhook_line(telegram: FakeTelegram, intron: FakeIntron, **overrides: Any) -> str:
    """The webhook check's line. Only that check runs here, in the test's process: the
    database check would close the connections of the bot this test runs alongside."""
    config = make_config(telegram, intron, "sqlite://never-opened.sqlite3", **overrides)
    return (await check_webhook(config)).line


@pytest.fixture
async def webhook_bot(
    bot_factory: Callable[..., RunningBot], migrated: str
) -> AsyncIterator[RunningBot]:
    """The bot in webhook mode: it registered its webhook with setWebhook at start-up."""
    running = bot_factory(**webhook_config(free_port()))
    await running.start()
    yield running
    await running.stop()


async def test_webhook_check_without_a_registration(
    telegram: FakeTelegram, intron: FakeIntron
) -> None:
    assert await webhook_line(telegram, intron, **webhook_config(free_port())) == (
        "FAIL  webhook: Telegram has no webhook registered (the bot sets it at start-up)"
    )


async def test_webhook_check_against_the_bots_own_registration(
    telegram: FakeTelegram,
    intron: FakeIntron,
    migrated: str,
    webhook_bot: RunningBot,
    tmp_path: Path,
) -> None:
    config = webhook_bot.config
    url = config.webhook_url
    assert url is not None and config.webhook_secret is not None
    webhook = {"webhook_url": url, "webhook_secret": config.webhook_secret, "port": config.port}
    assert await webhook_line(telegram, intron, **webhook) == (
        f"ok    webhook: {url}, 0 updates pending"
    )
    elsewhere = url.replace(WEBHOOK_PATH, "/elsewhere")
    assert await webhook_line(telegram, intron, **{**webhook, "webhook_url": elsewhere}) == (
        f"FAIL  webhook: Telegram delivers to {url}, but WEBHOOK_URL is {elsewhere}"
    )
    # The command itself, in webhook mode, while the bot serves: every line ok.
    env = settings_env(
        telegram,
        intron,
        migrated,
        WEBHOOK_URL=url,
        WEBHOOK_SECRET=config.webhook_secret.get_secret_value(),
        PORT=str(config.port),
    )
    command = BotProcess(env, cwd=tmp_path)
    await command.start(["check"])
    assert await command.wait(60) == 0, command.output.decode()
    names = [line.split(":")[0].split()[-1] for line in command.output.decode().splitlines()]
    assert names == ["telegram", "intron", "database", "encryption", "webhook"]

    async with database_writes_blocked(migrated):  # the bot answers Telegram 503 now
        telegram.user_message(4001, text="/help")
        await telegram.wait_for(lambda: "last_error_message" in telegram.webhook_info())
        assert re.fullmatch(
            rf"FAIL  webhook: {url}, 1 updates pending; "
            r"Telegram's last error \d+ s ago: Wrong response from the webhook: 503",
            await webhook_line(telegram, intron, **webhook),
        )
    # Telegram delivers it again, and this time it is stored; the error stays on record.
    await telegram.wait_for(lambda: telegram.webhook_info()["pending_update_count"] == 0)
    assert re.fullmatch(
        rf"ok    webhook: {url}, 0 updates pending; "
        r"Telegram's last error \d+ s ago: Wrong response from the webhook: 503",
        await webhook_line(telegram, intron, **webhook),
    ), "delivered since the error: fine now"


async def test_python_m_bot_check_exit_status(
    telegram: FakeTelegram, intron: FakeIntron, migrated: str, tmp_path: Path
) -> None:
    passing = BotProcess(settings_env(telegram, intron, migrated), cwd=tmp_path)
    await passing.start(["check"])
    assert await passing.wait(60) == 0
    lines = passing.output.decode().splitlines()
    names = [line.split(":")[0].split()[-1] for line in lines]
    assert names == ["telegram", "intron", "database", "encryption"]
    assert all(line.startswith("ok") for line in lines)

    env = settings_env(telegram, intron, migrated, INTRON_API_KEY="not-the-key")
    failing = BotProcess(env, cwd=tmp_path)
    await failing.start(["check"])
    assert await failing.wait(60) == 1
    output = failing.output.decode()
    assert len(output.splitlines()) == 4
    assert "FAIL  intron: Intron at" in output and "not-the-key" not in output
    assert "Traceback" not in output

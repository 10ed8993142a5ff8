"""Encryption at rest, end to end: the key a bot starts with (DATA_ENCRYPTION_KEY, or the key
file beside a SQLite database), what happens with a wrong key, a database from before
encryption, and a key rotated while jobs are in flight."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import sqlite3
import stat
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot import cli
from bot.ops.check import run_checks
from bot.ops.encryption import key_file_of
from storage import key_store
from storage.encrypted import KeyRing, generate_key, parse_key, sealed_key_id
from tests.conftest import (
    TEST_ENCRYPTION_KEY,
    RunningBot,
    eventually,
    make_config,
    send_voice,
    settings_env,
    texts,
    transcript_replies,
)
from tests.fakes.intron_api import FakeIntron
from tests.fakes.telegram import FakeTelegram
from tests.test_settings import press
from tests.test_startup import failed_start

CHAT = 9301
TRANSCRIPT = "Baba Otieno has had a cough for three weeks and night sweats"


# -- reading and writing the database as an operator's tools would ---------------------


async def raw(database_url: str, sql: str, *values: Any) -> list[dict[str, Any]]:
    """Run one statement on the bot's database with its own connection (`?` placeholders)."""
    if database_url.startswith("sqlite://"):
        return await asyncio.to_thread(
            _raw_sqlite, database_url.removeprefix("sqlite://"), sql, values
        )
    for number in range(1, len(values) + 1):
        sql = sql.replace("?", f"${number}", 1)
    connection = await asyncpg.connect(database_url)
    try:
        return [dict(row) for row in await connection.fetch(sql, *values)]
    finally:
        await connection.close()


def _raw_sqlite(path: str, sql: str, values: tuple[Any, ...]) -> list[dict[str, Any]]:
    with contextlib.closing(sqlite3.connect(path, timeout=10)) as db:
        db.row_factory = sqlite3.Row
        rows = [dict(row) for row in db.execute(sql, values).fetchall()]
        db.commit()
        return rows


async def stored_values(database_url: str) -> list[str]:
    """Every non-empty value of every encrypted column, as stored."""
    found: list[str] = []
    for table in key_store.SEALED_TABLES:
        columns = ", ".join(table.columns)
        for row in await raw(database_url, f"SELECT {columns} FROM {table.table}"):
            found += [v for v in row.values() if isinstance(v, str) and v]
    return found


@contextlib.asynccontextmanager
async def bot_running(
    bot_factory: Callable[..., RunningBot], **overrides: Any
) -> AsyncIterator[RunningBot]:
    running = bot_factory(**overrides)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


async def deliver_one(telegram: FakeTelegram, chat: int = CHAT) -> None:
    before = len(transcript_replies(telegram, chat))
    send_voice(telegram, chat)
    await telegram.wait_for(lambda: len(transcript_replies(telegram, chat)) == before + 1)


async def resend_from_history(telegram: FakeTelegram, chat: int = CHAT) -> str:
    """Press Resend on the newest result of /history; the text of the transcript resent."""
    before = len(transcript_replies(telegram, chat))
    telegram.user_message(chat, text="/history")
    await telegram.wait_for(lambda: "Recent recordings" in texts(telegram, chat)[-1])
    history = telegram.bot_messages(chat)[-1]
    await press(telegram, chat, history["message_id"], "Resend")
    await telegram.wait_for(lambda: len(transcript_replies(telegram, chat)) == before + 1)
    return str(transcript_replies(telegram, chat)[-1]["text"])


async def check_line(
    telegram: FakeTelegram, intron: FakeIntron, database_url: str, **kw: Any
) -> str:
    out = io.StringIO()
    await run_checks(make_config(telegram, intron, database_url, **kw), out=out)
    [line] = [line for line in out.getvalue().splitlines() if " encryption: " in line]
    return line


# -- the key ----------------------------------------------------------------------------


def test_genkey_prints_a_fresh_key_and_help_lists_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["genkey"]) == 0
    first = capsys.readouterr().out.strip()
    assert cli.main(["genkey"]) == 0
    second = capsys.readouterr().out.strip()
    assert len(parse_key(first)) == 32 and first != second
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "genkey" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["genkey", "--help"])
    assert "DATA_ENCRYPTION_KEY" in capsys.readouterr().out


async def test_sqlite_without_a_key_makes_a_private_key_file_and_reads_it_after_a_restart(
    telegram: FakeTelegram,
    intron: FakeIntron,
    bot_factory: Callable[..., RunningBot],
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if not database_url.startswith("sqlite://"):
        pytest.skip("the key file is SQLite's; PostgreSQL needs DATA_ENCRYPTION_KEY")
    intron.transcript = TRANSCRIPT
    async with bot_running(bot_factory):
        await deliver_one(telegram)
    key_file = key_file_of(database_url)
    assert key_file is not None and key_file.name == "bot.sqlite3.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    created = [r.getMessage() for r in caplog.records if "data encryption key" in r.getMessage()]
    assert len(created) == 1 and str(key_file) in created[0] and key not in created[0]
    assert not any(key in r.getMessage() for r in caplog.records)
    # Every stored text is sealed under that key.
    values = await stored_values(database_url)
    assert values and {sealed_key_id(v) for v in values} == {KeyRing.from_texts(key).current_id}

    async with bot_running(bot_factory):
        assert TRANSCRIPT in await resend_from_history(telegram)
    assert key_file.read_text().strip() == key, "the same key, not a new one"


async def test_restart_with_the_same_key_resends_the_result(
    telegram: FakeTelegram, intron: FakeIntron, bot_factory: Callable[..., RunningBot]
) -> None:
    intron.transcript = TRANSCRIPT
    key = generate_key()
    async with bot_running(bot_factory, data_encryption_key=key):
        await deliver_one(telegram)
    async with bot_running(bot_factory, data_encryption_key=key):
        assert TRANSCRIPT in await resend_from_history(telegram)


async def test_a_wrong_key_is_one_line_and_exit_2_before_anything_is_served(
    telegram: FakeTelegram,
    intron: FakeIntron,
    bot_factory: Callable[..., RunningBot],
    database_url: str,
    tmp_path: Path,
) -> None:
    async with bot_running(bot_factory):
        await deliver_one(telegram)
    served = len(telegram.requests)

    env = settings_env(telegram, intron, database_url, DATA_ENCRYPTION_KEY=generate_key())
    status, line = await failed_start(env, tmp_path)
    assert status == 2
    assert "DATA_ENCRYPTION_KEY does not open this database" in line
    assert [m for m, _ in telegram.requests[served:] if m.startswith(("send", "edit"))] == []

    # `check` says the same, and the right key still opens everything.
    assert (await check_line(telegram, intron, database_url)).startswith("ok")
    wrong = await check_line(telegram, intron, database_url, data_encryption_key=generate_key())
    assert wrong.startswith("FAIL") and "does not open this database" in wrong


def bare_env(**settings: str) -> dict[str, str]:
    """An environment with the two required settings and `settings`: nothing is reached."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(Path(__file__).parent.parent),
        "TELEGRAM_BOT_TOKEN": "123:ABC",
        "INTRON_API_KEY": "key",
        **settings,
    }


async def test_postgres_without_a_key_is_one_line_naming_it(tmp_path: Path) -> None:
    env = bare_env(DATABASE_URL="postgres://bot@127.0.0.1:9/bot")
    status, line = await failed_start(env, tmp_path)
    assert status == 2
    assert line.startswith("Configuration error: DATA_ENCRYPTION_KEY is required with PostgreSQL")


async def test_a_key_that_is_not_32_bytes_is_refused_without_showing_it(tmp_path: Path) -> None:
    status, line = await failed_start(bare_env(DATA_ENCRYPTION_KEY="c2hvcnQta2V5"), tmp_path)
    assert status == 2
    assert "DATA_ENCRYPTION_KEY must decode to 32 bytes" in line and "c2hvcnQta2V5" not in line


# -- older databases and rotation --------------------------------------------------------


# The columns as the versions before encryption had them on PostgreSQL.
BEFORE_ENCRYPTION = {
    "jobs": {
        "file_name": "VARCHAR(128)",
        "source_url": "VARCHAR(2048)",
        "speakers": "JSONB",
        "result": "JSONB",
        "failure": "TEXT",
        "reply": "JSONB",
    },
    "inbox_updates": {"payload": "JSONB"},
}


async def make_plaintext(database_url: str, ring: KeyRing) -> int:
    """Turn the database into one written before encryption: every sealed value back to its
    plaintext, the columns of that schema, and the migration that encrypts not yet applied.
    Returns how many values were rewritten."""
    rewritten = 0
    for table in key_store.SEALED_TABLES:
        columns = ", ".join(table.columns)
        rows = await raw(database_url, f"SELECT {table.key} AS k, {columns} FROM {table.table}")
        for row in rows:
            for column in table.columns:
                value = row[column]
                if isinstance(value, str) and sealed_key_id(value) is not None:
                    await raw(
                        database_url,
                        f"UPDATE {table.table} SET {column} = ? WHERE {table.key} = ?",
                        ring.open(value),
                        row["k"],
                    )
                    rewritten += 1
    await raw(database_url, "DROP TABLE encryption_keys")
    await raw(
        database_url, "DELETE FROM tortoise_migrations WHERE name = '0016_encryption_at_rest'"
    )
    if not database_url.startswith("sqlite://"):
        for table, columns in BEFORE_ENCRYPTION.items():
            for column, sql_type in columns.items():
                await raw(
                    database_url,
                    f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {sql_type}"
                    f" USING {column}::{sql_type.split('(')[0].lower()}",
                )
    return rewritten


async def test_a_database_from_before_encryption_is_read_and_then_sealed(
    telegram: FakeTelegram,
    intron: FakeIntron,
    bot_factory: Callable[..., RunningBot],
    database_url: str,
) -> None:
    intron.transcript = TRANSCRIPT
    key = TEST_ENCRYPTION_KEY
    async with bot_running(bot_factory, data_encryption_key=key):
        await deliver_one(telegram)
    assert await make_plaintext(database_url, KeyRing.from_texts(key)) >= 3
    assert any(TRANSCRIPT in v for v in await stored_values(database_url)), "plaintext now"
    line = await check_line(telegram, intron, database_url, data_encryption_key=key)
    assert re.search(r"; [1-9][0-9]* rows in plaintext$", line), line

    async with bot_running(bot_factory, data_encryption_key=key):
        current = KeyRing.from_texts(key).current_id

        async def all_sealed() -> bool:
            return await key_store.count_stale(current) == 0

        await eventually(all_sealed, what="every row sealed again")
        values = await stored_values(database_url)
        assert not any(TRANSCRIPT in v for v in values)
        assert {sealed_key_id(v) for v in values} == {current}
        assert TRANSCRIPT in await resend_from_history(telegram), "nothing lost"
    line = await check_line(telegram, intron, database_url, data_encryption_key=key)
    assert line.startswith("ok") and "; 0 rows in plaintext or under an old key" in line


async def test_a_key_rotated_with_jobs_in_flight(
    telegram: FakeTelegram,
    intron: FakeIntron,
    bot_factory: Callable[..., RunningBot],
    database_url: str,
) -> None:
    intron.transcript = TRANSCRIPT
    old, new = generate_key(), generate_key()
    async with bot_running(bot_factory, data_encryption_key=old):
        await deliver_one(telegram)
        intron.processing_seconds = 3600.0  # held at Intron until finished below
        send_voice(telegram, CHAT + 1)
        send_voice(telegram, CHAT + 2)
        await intron.wait_for(lambda: len(intron.uploads) == 3)
    old_id, new_id = KeyRing.from_texts(old).current_id, KeyRing.from_texts(new).current_id
    assert {sealed_key_id(v) for v in await stored_values(database_url)} == {old_id}

    # The operator rotates: the old key moves to DATA_ENCRYPTION_OLD_KEYS.
    async with bot_running(bot_factory, data_encryption_key=new, data_encryption_old_keys=old):
        intron.finish()
        for chat in (CHAT + 1, CHAT + 2):
            await telegram.wait_for(lambda chat=chat: bool(transcript_replies(telegram, chat)))

        async def all_under_new() -> bool:
            return await key_store.count_stale(new_id) == 0

        await eventually(all_under_new, what="every row under the new key")
        assert {sealed_key_id(v) for v in await stored_values(database_url)} == {new_id}
        assert TRANSCRIPT in await resend_from_history(telegram)
    line = await check_line(
        telegram, intron, database_url, data_encryption_key=new, data_encryption_old_keys=old
    )
    assert line.startswith("ok") and f"key {new_id}" in line and "; 0 rows in" in line

    # Nothing is sealed under the old key any more: it can go.
    async with bot_running(bot_factory, data_encryption_key=new):
        assert TRANSCRIPT in await resend_from_history(telegram, CHAT + 1)
    assert [r["key_id"] for r in await raw(database_url, "SELECT key_id FROM encryption_keys")] == [
        new_id
    ]

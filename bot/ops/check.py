"""`python -m bot check`: is each thing the bot depends on there and willing? One line each.

Each check is a small async function from the configuration to a result; they run at once,
print in a fixed order, and never print a secret (the lines pass through the log redaction).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TextIO

import httpx
from telegram import Bot
from telegram.request import HTTPXRequest

from bot.config import Config
from bot.intron import (
    IntronAuthError,
    IntronClient,
    IntronMalformedResponse,
    IntronRateLimited,
    IntronRejected,
    IntronTimeout,
    IntronTransientError,
    IntronUnreachable,
)
from bot.logs import Redactor
from bot.ops.encryption import KeyFileProblem, key_file_of, key_ring
from bot.ops.startup import describe_telegram_error, host_of
from storage import key_store
from storage.db import (
    describe_database_error,
    is_postgres,
    libpq_url,
    read_migration_state,
    redacted_url,
    sqlite_path,
    sqlite_problem,
)

CHECK_TIMEOUT_SECONDS = 10.0
# A status query for a file id no upload can have: authenticated, and it creates no job.
PROBE_FILE_ID = "00000000-0000-0000-0000-000000000000"
# Telegram keeps a webhook's last error for good. It means trouble now while it is recent and
# updates still wait; with nothing pending, deliveries have succeeded since (a restart, say).
RECENT_WEBHOOK_ERROR_SECONDS = 600


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str

    @property
    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.name}: {self.detail}"


Check = Callable[[Config], Awaitable[CheckResult]]


def _bot(config: Config) -> Bot:
    timeout = CHECK_TIMEOUT_SECONDS
    request = HTTPXRequest(connect_timeout=timeout, read_timeout=timeout)
    return Bot(
        config.telegram_bot_token.get_secret_value(),
        base_url=config.telegram_base_url,
        request=request,
    )


def _telegram_failure(name: str, config: Config, error: Exception) -> CheckResult:
    problem = describe_telegram_error(error, config.telegram_base_url)
    if problem is None:
        raise error
    return CheckResult(name, False, problem.line)


async def check_telegram(config: Config) -> CheckResult:
    try:
        async with _bot(config) as bot:  # entering calls getMe
            username = bot.username
    except Exception as error:
        return _telegram_failure("telegram", config, error)
    host = host_of(config.telegram_base_url)
    return CheckResult("telegram", True, f"token accepted by {host}: @{username}")


async def check_intron(config: Config) -> CheckResult:
    def fail(detail: str) -> CheckResult:
        return CheckResult("intron", False, detail)

    host = host_of(config.intron_base_url)
    where = f"{host} (INTRON_BASE_URL)"
    accepted = f"key accepted by {host}"
    client = IntronClient(
        config.intron_base_url,
        config.intron_api_key.get_secret_value(),
        timeout=httpx.Timeout(CHECK_TIMEOUT_SECONDS),
    )
    try:
        await client.status(PROBE_FILE_ID)
    except IntronAuthError as error:
        return fail(f"Intron at {where} rejected INTRON_API_KEY ({error})")
    except IntronRejected as error:
        # Past the key check: Intron only says it has no such file.
        detail = f"{accepted} (HTTP {error.status_code} for a made-up file id)"
        return CheckResult("intron", True, detail)
    except IntronRateLimited:
        return CheckResult("intron", True, f"{accepted}; its rate budget is spent right now")
    except IntronTimeout:
        return fail(f"Intron at {where} did not answer within {CHECK_TIMEOUT_SECONDS:g}s")
    except IntronUnreachable as error:
        return fail(f"Intron unreachable at {where}: {error.__cause__ or error}")
    except IntronMalformedResponse as error:
        return fail(f"{where} does not answer like Intron's API ({error})")
    except IntronTransientError as error:
        return fail(f"Intron at {where} is in trouble ({error})")
    finally:
        await client.aclose()
    return CheckResult("intron", True, accepted)


async def check_database(config: Config) -> CheckResult:
    def fail(detail: str) -> CheckResult:
        return CheckResult("database", False, detail)

    url = config.database_url
    shown = f"DATABASE_URL={redacted_url(url)}"
    path = sqlite_path(url)
    if path is not None:
        problem = sqlite_problem(path)
        if problem is not None:
            return fail(f"cannot use the SQLite database ({shown}): {problem}")
        if not path.exists():  # before the first start: nothing wrong
            detail = f"{path} not created yet ({shown}): created at first start"
            return CheckResult("database", True, detail)
    try:
        state = await read_migration_state(url)
    except Exception as error:
        described = describe_database_error(error, url)
        if described is None:
            raise
        return fail(described[0])
    if state.unknown:
        names = ", ".join(state.unknown)
        return fail(f"has migrations this version of the bot does not know: {names} ({shown})")
    if state.pending:
        names = ", ".join(state.pending)
        return fail(f"migrations not applied yet: {names} ({shown}); starting the bot applies them")
    detail = f"{redacted_url(url)} answers; all {len(state.applied)} migrations applied"
    return CheckResult("database", True, detail)


async def check_encryption(config: Config) -> CheckResult:
    """Which key seals the database, that it opens what is stored, and how many rows are not
    under it yet (plaintext from before encryption, or an old key's)."""
    name = "encryption"
    try:
        ring = key_ring(config, create=False)
    except KeyFileProblem as problem:
        return CheckResult(name, False, str(problem))
    path = sqlite_path(config.database_url)
    if path is not None and not path.exists():
        return CheckResult(name, True, "the database is not created yet")
    where = (
        "DATA_ENCRYPTION_KEY"
        if config.data_encryption_key
        else str(key_file_of(config.database_url))
    )
    try:
        async with _reader(config.database_url) as query:
            if ring is None:
                stale = await key_store.count_stale("none", query)
                detail = f"no key yet ({where} is created at first start); "
                return CheckResult(name, True, detail + f"{stale} rows in plaintext")
            try:
                await key_store.unneeded_keys(ring, query)
            except Exception as error:
                if not _missing_table(error):
                    raise
                # A database from before encryption: the bot's next start seals it.
                stale = await key_store.count_stale("none", query)
                detail = f"not set up yet (the next start does it); {stale} rows in plaintext"
                return CheckResult(name, True, detail)
            stale = await key_store.count_stale(ring.current_id, query)
    except key_store.WrongKey as problem:
        return CheckResult(name, False, str(problem))
    except Exception as error:
        if _missing_table(error):
            return CheckResult(name, True, "no tables yet: starting the bot creates them")
        if describe_database_error(error, config.database_url) is None:
            raise
        return CheckResult(name, False, "cannot read the database (see the database line)")
    detail = f"key {ring.current_id} ({where}); {stale} rows in plaintext or under an old key"
    if stale:
        detail += " (the running bot seals them again in the background)"
    return CheckResult(name, True, detail)


def _missing_table(error: BaseException) -> bool:
    return "no such table" in str(error) or type(error).__name__ == "UndefinedTableError"


@contextlib.asynccontextmanager
async def _reader(database_url: str) -> AsyncIterator[key_store.Query]:
    """Read-only queries on the database with its own connection: `check` runs beside the
    bot, and beside the database check's Tortoise connection."""
    if is_postgres(database_url):
        import asyncpg

        connection = await asyncpg.connect(libpq_url(database_url), timeout=CHECK_TIMEOUT_SECONDS)

        async def query_postgres(sql: str) -> list[dict[str, Any]]:
            return [dict(row) for row in await connection.fetch(sql)]

        try:
            yield query_postgres
        finally:
            await connection.close()
        return
    path = sqlite_path(database_url)
    uri = f"file:{path}?mode=ro"

    def fetch(sql: str) -> list[dict[str, Any]]:
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=5)) as db:
            db.row_factory = sqlite3.Row
            return [dict(row) for row in db.execute(sql).fetchall()]

    async def query_sqlite(sql: str) -> list[dict[str, Any]]:
        return await asyncio.to_thread(fetch, sql)

    yield query_sqlite


async def check_webhook(config: Config) -> CheckResult:
    """Webhook mode: Telegram delivers to WEBHOOK_URL, and is not failing to right now."""
    try:
        async with _bot(config) as bot:
            info = await bot.get_webhook_info()
    except Exception as error:
        return _telegram_failure("webhook", config, error)
    if not info.url:
        return CheckResult(
            "webhook", False, "Telegram has no webhook registered (the bot sets it at start-up)"
        )
    if info.url != config.webhook_url:
        detail = f"Telegram delivers to {info.url}, but WEBHOOK_URL is {config.webhook_url}"
        return CheckResult("webhook", False, detail)
    detail = f"{info.url}, {info.pending_update_count} updates pending"
    if info.last_error_date is None:
        return CheckResult("webhook", True, detail)
    age = time.time() - info.last_error_date.timestamp()
    detail += f"; Telegram's last error {_ago(age)} ago: {info.last_error_message}"
    failing = age <= RECENT_WEBHOOK_ERROR_SECONDS and info.pending_update_count > 0
    return CheckResult("webhook", not failing, detail)


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{max(0, int(seconds))} s"
    if seconds < 7200:
        return f"{int(seconds // 60)} min"
    return f"{int(seconds // 3600)} h"


def checks_for(config: Config) -> list[tuple[str, Check]]:
    checks: list[tuple[str, Check]] = [
        ("telegram", check_telegram),
        ("intron", check_intron),
        ("database", check_database),
        ("encryption", check_encryption),
    ]
    if config.webhook_url:
        checks.append(("webhook", check_webhook))
    return checks


async def _guarded(name: str, check: Check, config: Config) -> CheckResult:
    """A check that hangs or breaks still gives its one line."""
    try:
        return await asyncio.wait_for(check(config), CHECK_TIMEOUT_SECONDS + 5)
    except TimeoutError:
        return CheckResult(name, False, f"no answer within {CHECK_TIMEOUT_SECONDS + 5:g}s")
    except Exception as error:
        return CheckResult(name, False, f"unexpected {type(error).__name__}: {error}")


async def run_checks(config: Config, *, out: TextIO) -> int:
    """Print one line per check; 0 when every check passed, else 1."""
    redact = Redactor(config.secrets)
    checks = checks_for(config)
    results = await asyncio.gather(*(_guarded(name, check, config) for name, check in checks))
    for result in results:
        print(redact(result.line), file=out, flush=True)
    return 0 if all(result.ok for result in results) else 1

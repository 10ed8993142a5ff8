"""The outage logs (bot/outages.py), one per dependency: an outage is told once, reminded once a
minute with how many operations failed, and its end told once with how long it lasted; an
error that is not an outage keeps its traceback every time."""

from __future__ import annotations

import asyncio
import logging
import sqlite3

import asyncpg
import httpx
import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from tortoise.exceptions import OperationalError

from bot.outages import (
    OUTAGE_REMINDER_SECONDS,
    OutageLog,
    Outages,
    is_database_outage,
    is_telegram_outage,
    telegram_kind,
)

TOKEN = "123456:ABCdefGhIJKlmNoPQRstuVWXyz0123456789"


def wrapped(cause: BaseException) -> OperationalError:
    """As Tortoise raises a driver's error."""
    try:
        raise OperationalError(str(cause)) from cause
    except OperationalError as exc:
        return exc


def caused(error: NetworkError, cause: BaseException) -> NetworkError:
    """As python-telegram-bot raises an httpx error."""
    try:
        raise error from cause
    except NetworkError as exc:
        return exc


def test_a_server_gone_is_an_outage_and_a_bad_query_is_not() -> None:
    assert is_database_outage(ConnectionRefusedError(111, "Connection refused"))
    assert is_database_outage(wrapped(asyncpg.exceptions.ConnectionDoesNotExistError("closed")))
    assert is_database_outage(wrapped(asyncpg.exceptions.CannotConnectNowError("starting up")))
    assert is_database_outage(wrapped(sqlite3.OperationalError("unable to open database file")))
    assert is_database_outage(wrapped(sqlite3.OperationalError("database is locked")))
    assert is_database_outage(asyncpg.exceptions.InterfaceError("connection is closed"))
    assert is_database_outage(asyncpg.exceptions.AdminShutdownError("terminating connection"))
    assert is_database_outage(
        asyncpg.exceptions.InternalClientError(
            "cannot switch to state 15; another operation (2) is in progress"
        )
    )
    assert not is_database_outage(wrapped(asyncpg.exceptions.PostgresSyntaxError("near )")))
    assert not is_database_outage(wrapped(sqlite3.OperationalError('near ")": syntax error')))
    assert not is_database_outage(KeyError("job"))


def test_telegram_away_is_an_outage_and_its_answers_are_not() -> None:
    refused = caused(
        NetworkError("httpx.ConnectError: All connection attempts failed"),
        httpx.ConnectError("All connection attempts failed"),
    )
    assert is_telegram_outage(refused)
    assert is_telegram_outage(NetworkError("Bad Gateway"))
    assert is_telegram_outage(TimedOut())
    assert is_telegram_outage(httpx.ReadTimeout("timed out"))
    assert not is_telegram_outage(BadRequest("Chat not found"))
    assert not is_telegram_outage(Forbidden("bot was blocked by the user"))
    assert not is_telegram_outage(RetryAfter(3))
    assert telegram_kind(refused) == "network error: ConnectError"
    assert telegram_kind(NetworkError("Bad Gateway")) == "NetworkError: Bad Gateway"
    page = NetworkError("Bad Gateway (502). Parsing the server response b'<html>' failed")
    assert telegram_kind(page) == "NetworkError: Bad Gateway (502)"


def test_an_outage_is_one_line_then_a_reminder_a_minute_then_one_line_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [1000.0]
    outages = Outages(clock=lambda: now[0])
    gone = wrapped(asyncpg.exceptions.ConnectionDoesNotExistError("closed"))
    with caplog.at_level(logging.DEBUG, logger="bot.outages"):
        for tick in range(4 * 90):  # four failures a second for a minute and a half
            outages.database.failed(gone, "scheduler" if tick % 2 else "inbox")
            now[0] += 0.25
        outages.database.worked()
        outages.database.worked()
    records = caplog.records
    lines = [record.getMessage() for record in records]
    assert len(lines) == 3, lines
    assert [r.levelname for r in records] == ["WARNING", "WARNING", "INFO"]
    assert lines[0].startswith("database unavailable (ConnectionDoesNotExistError: closed;")
    assert "seen by inbox" in lines[0]
    assert lines[1].startswith(f"database still unavailable after {OUTAGE_REMINDER_SECONDS:.0f}s")
    assert "241 operations failed" in lines[1]
    assert lines[2] == "database back after 90s (360 operations failed meanwhile)"
    assert all(record.exc_info is None for record in records)


def test_each_dependency_has_its_own_log(caplog: pytest.LogCaptureFixture) -> None:
    outages = Outages()
    with caplog.at_level(logging.INFO, logger="bot.outages"):
        outages.telegram.outage(NetworkError("Bad Gateway"), "sendMessage")
        outages.intron.count("status", "HTTP 503 from Intron")
        outages.intron.count("upload", "HTTP 503 from Intron")
        outages.database.worked()  # the database was never away: nothing to say
        outages.intron.worked()
        outages.telegram.worked()
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        "Telegram unavailable (NetworkError: Bad Gateway; seen by sendMessage): waiting for it, "
        "nothing is lost",
        "Intron unavailable (HTTP 503 from Intron; seen by status): waiting for it, nothing is "
        "lost",
        "Intron back after 0s (2 operations failed meanwhile)",
        "Telegram back after 0s (1 operations failed meanwhile)",
    ]


def test_an_answer_is_not_an_outage_and_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    telegram = Outages().telegram
    with caplog.at_level(logging.DEBUG, logger="bot.outages"):
        assert not telegram.outage(BadRequest("Chat not found"), "sendMessage")
    assert caplog.records == []
    assert not telegram.down


def test_a_bug_keeps_its_traceback_every_time(caplog: pytest.LogCaptureFixture) -> None:
    database = Outages().database
    with caplog.at_level(logging.ERROR, logger="bot.outages"):
        database.failed(KeyError("job"), "poll pacer")
        database.failed(KeyError("job"), "poll pacer")
    assert len(caplog.records) == 2
    assert all(record.exc_info is not None for record in caplog.records)
    assert not database.down


def test_no_line_names_a_request_url() -> None:
    """python-telegram-bot's errors never carry the URL, but httpx's can: the kind is the
    error's class, never its text."""
    leak = httpx.ConnectError(f"cannot connect to https://api.telegram.org/bot{TOKEN}/getMe")
    assert TOKEN not in telegram_kind(caused(NetworkError("httpx.ConnectError"), leak))
    assert TOKEN not in telegram_kind(leak)


def test_the_log_is_its_own_per_dependency() -> None:
    assert isinstance(Outages().database, OutageLog)
    outages = Outages()
    outages.database.count("scheduler", "ConnectionRefusedError")
    assert outages.database.down and not outages.telegram.down and not outages.intron.down


def test_held_logs_count_nothing_until_told(caplog: pytest.LogCaptureFixture) -> None:
    """Start-up waits for Telegram with its own one-line report: nothing from the outage log."""
    outages = Outages()
    outages.hold_telegram()
    with caplog.at_level(logging.INFO, logger="bot.outages"):
        outages.telegram.outage(NetworkError("Bad Gateway"), "getMe")
        outages.telegram.worked()
        outages.tell_telegram()
        outages.telegram.outage(NetworkError("Bad Gateway"), "sendMessage")
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == ["Telegram unavailable"]


async def test_the_re_encryption_pass_survives_a_failing_batch_and_stops_cleanly(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A batch the database fails is counted in the database outage log and tried again; a
    bug is logged with its traceback and tried again; neither ends the pass or its stop."""
    from bot.engine import job_store
    from bot.engine.reencryption import Reencryption
    from storage.encrypted import KeyRing, parse_key
    from storage.key_store import Batch
    from tests.conftest import TEST_ENCRYPTION_KEY

    answers: list[BaseException | Batch] = [
        wrapped(sqlite3.OperationalError("database is locked")),
        ValueError("a bug"),
        Batch(last_key=7, rewritten=0, unopenable=0),
        Batch(last_key=None, rewritten=0, unopenable=0),
    ]

    all_given = asyncio.Event()

    async def step(ring: KeyRing, *, after: int | None, limit: int) -> Batch:
        answer = answers.pop(0)
        if not answers:
            all_given.set()
        if isinstance(answer, BaseException):
            raise answer
        return answer

    class NoInbox:
        async def reseal_stale(self, ring: KeyRing, *, after: int | None, limit: int) -> Batch:
            return Batch(last_key=None, rewritten=0, unopenable=0)

    monkeypatch.setattr(job_store, "reseal_stale", step)
    monkeypatch.setattr("bot.engine.reencryption.RETRY_SECONDS", 0.01)
    outages = Outages()
    ring = KeyRing(parse_key(TEST_ENCRYPTION_KEY))
    pass_ = Reencryption(ring, NoInbox(), database=outages.database)  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO):
        pass_.start()
        await asyncio.wait_for(all_given.wait(), 30)
        await pass_.stop()
    text = caplog.text
    assert "database unavailable" in text and "database back" in text
    assert "re-encryption failed; trying again shortly" in text and "ValueError: a bug" in text

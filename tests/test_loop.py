"""The scheduler's and pacer's shared loop: an outage is told once, reminded once a minute and
its end told once; an error that is not an outage keeps its traceback."""

from __future__ import annotations

import logging
import sqlite3

import asyncpg
import pytest
from tortoise.exceptions import OperationalError

from bot.outages import OUTAGE_REMINDER_SECONDS, OutageLog, is_outage


def wrapped(cause: BaseException) -> OperationalError:
    """As Tortoise raises a driver's error."""
    try:
        raise OperationalError(str(cause)) from cause
    except OperationalError as exc:
        return exc


def test_a_server_gone_is_an_outage_and_a_bad_query_is_not() -> None:
    assert is_outage(ConnectionRefusedError(111, "Connection refused"))
    assert is_outage(wrapped(asyncpg.exceptions.ConnectionDoesNotExistError("closed")))
    assert is_outage(wrapped(asyncpg.exceptions.CannotConnectNowError("starting up")))
    assert is_outage(wrapped(sqlite3.OperationalError("unable to open database file")))
    assert is_outage(wrapped(sqlite3.OperationalError("database is locked")))
    assert not is_outage(wrapped(asyncpg.exceptions.PostgresSyntaxError("near )")))
    assert not is_outage(wrapped(sqlite3.OperationalError('near ")": syntax error')))
    assert not is_outage(KeyError("job"))


def test_an_outage_is_one_line_then_a_reminder_a_minute_then_one_line_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [1000.0]
    outages = OutageLog("scheduler", clock=lambda: now[0])
    gone = wrapped(asyncpg.exceptions.ConnectionDoesNotExistError("closed"))
    with caplog.at_level(logging.WARNING, logger="bot.outages"):
        for _ in range(4 * 60):  # four ticks a second for a minute, and a bit
            outages.failed(gone)
            now[0] += 0.26
        outages.worked()
        outages.worked()
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 3, lines
    assert "database unavailable" in lines[0]
    assert "still unavailable" in lines[1] and f"{OUTAGE_REMINDER_SECONDS:.0f}s" in lines[1]
    assert "back after" in lines[2]
    assert all(record.exc_info is None for record in caplog.records)


def test_a_bug_keeps_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    outages = OutageLog("poll pacer")
    with caplog.at_level(logging.ERROR, logger="bot.outages"):
        outages.failed(KeyError("job"))
    [record] = caplog.records
    assert record.exc_info is not None

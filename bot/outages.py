"""Outages of the bot's dependencies, told to the operator in a few lines rather than a
traceback per failed operation.

A database that goes away makes every step fail the same way, several times a second. The
operator wants to hear it once, then a reminder a minute while it lasts, then once when it is
back; a traceback is for an error that is not an outage (a bug worth reading).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from tortoise.exceptions import DBConnectionError

log = logging.getLogger(__name__)

OUTAGE_REMINDER_SECONDS = 60.0


# How drivers say the server is gone rather than the query wrong: PostgreSQL's SQLSTATE
# classes 08 (connection exception) and 57P (operator intervention: shutdown, cannot connect
# now), and SQLite's messages for a file it cannot reach or a lock it cannot take.
_GONE_SQLSTATES = ("08", "57P")
_GONE_SQLITE = ("unable to open", "disk i/o", "locked", "readonly", "no such file")


def is_outage(error: BaseException) -> bool:
    """The database (or the network under it) failing, as opposed to a bug: a syntax error or
    a constraint is a bug worth a traceback even though the driver raises it the same way."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, (OSError, ConnectionError, DBConnectionError)):
            return True
        sqlstate = getattr(seen, "sqlstate", None)
        if isinstance(sqlstate, str):
            return sqlstate.startswith(_GONE_SQLSTATES)
        if type(seen).__module__.startswith("asyncpg") and "Connection" in type(seen).__name__:
            return True  # e.g. ConnectionDoesNotExistError: the server went away mid-query
        if type(seen).__module__ == "sqlite3":
            return any(words in str(seen).lower() for words in _GONE_SQLITE)
        seen = seen.__cause__ or seen.__context__
    return False


class OutageLog:
    """One line when a step starts failing, one a minute while it fails, one when it works."""

    def __init__(self, what: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._what = what
        self._clock = clock
        self._since: float | None = None
        self._reminded_at = 0.0
        self._failures = 0

    def failed(self, error: BaseException) -> None:
        now = self._clock()
        self._failures += 1
        if not is_outage(error):
            log.error("%s failed; trying again shortly", self._what, exc_info=error)
            return
        if self._since is None:
            self._since = self._reminded_at = now
            log.error("%s: database unavailable (%s); retrying", self._what, _reason(error))
        elif now - self._reminded_at >= OUTAGE_REMINDER_SECONDS:
            self._reminded_at = now
            log.error(
                "%s: database still unavailable after %.0fs (%d failed attempts)",
                self._what,
                now - self._since,
                self._failures,
            )

    def worked(self) -> None:
        if self._since is not None:
            log.warning("%s: database back after %.0fs", self._what, self._clock() - self._since)
        self._since = None
        self._failures = 0


def _reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__

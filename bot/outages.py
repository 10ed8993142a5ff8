"""Outages of the bot's dependencies (the database, Telegram, Intron), told to the operator in
a few lines rather than a line or a traceback per failed operation.

A dependency that goes away makes every operation using it fail the same way, several times a
second: the scheduler's ticks, the inbox's claims, each job's sends and polls. Each dependency
has one `OutageLog` per process (`Outages`, built once by the assembly and handed to every part
that uses one), so the operator hears of an outage once, gets a reminder a minute while it
lasts with how many operations failed, and hears once that it is back and how long it lasted.
A traceback is for an error that is not an outage (a bug worth reading), every time.

Lines name the dependency and the kind of error only: never a request's URL (Telegram's carry
the bot token) nor its text.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import httpx
from telegram.error import BadRequest, NetworkError, TimedOut
from tortoise.exceptions import DBConnectionError

log = logging.getLogger(__name__)

OUTAGE_REMINDER_SECONDS = 60.0


# How drivers say the server is gone rather than the query wrong: PostgreSQL's SQLSTATE
# classes 08 (connection exception) and 57P (operator intervention: shutdown, cannot connect
# now), and SQLite's messages for a file it cannot reach or a lock it cannot take.
_GONE_SQLSTATES = ("08", "57P")
# asyncpg's words for a connection the server dropped: ConnectionDoesNotExistError (gone
# mid-query) by its name; by their text, an InterfaceError for a closed connection used again,
# and the InternalClientError of a connection whose query the server's shutdown interrupted.
_GONE_ASYNCPG = ("connection is closed", "cannot switch to state")
_GONE_SQLITE = ("unable to open", "disk i/o", "locked", "readonly", "no such file")


def is_database_outage(error: BaseException) -> bool:
    """The database (or the network under it) failing, as opposed to a bug: a syntax error or
    a constraint is a bug worth a traceback even though the driver raises it the same way."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, (OSError, ConnectionError, DBConnectionError)):
            return True
        sqlstate = getattr(seen, "sqlstate", None)
        if isinstance(sqlstate, str):
            return sqlstate.startswith(_GONE_SQLSTATES)
        if type(seen).__module__.startswith("asyncpg") and (
            "Connection" in type(seen).__name__ or str(seen).startswith(_GONE_ASYNCPG)
        ):
            return True
        if type(seen).__module__ == "sqlite3":
            return any(words in str(seen).lower() for words in _GONE_SQLITE)
        seen = seen.__cause__ or seen.__context__
    return False


def is_telegram_outage(error: BaseException) -> bool:
    """Telegram unreachable, timing out or answering 5xx, as opposed to answering: a refusal
    (BadRequest, Forbidden), a flood limit or a group upgraded are answers."""
    if isinstance(error, NetworkError):
        return not isinstance(error, BadRequest)
    return isinstance(error, httpx.TransportError)


def database_kind(error: BaseException) -> str:
    """The driver's error under the ORM's (its type and the first line of its text: drivers
    name the address, never the password; the log's redaction blanks a URL's password anyway)."""
    while error.__cause__ is not None:
        error = error.__cause__
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200]}" if text else type(error).__name__


def telegram_kind(error: BaseException) -> str:
    """What went wrong without the request: python-telegram-bot's text for an error status
    ("Bad Gateway"), or the name of the network error under it (ConnectError, ReadTimeout)."""
    cause = error.__cause__
    if isinstance(error, httpx.HTTPError):
        return type(error).__name__
    if isinstance(cause, httpx.HTTPError):
        kind = "timed out" if isinstance(error, TimedOut) else "network error"
        return f"{kind}: {type(cause).__name__}"
    if isinstance(error, TimedOut):
        return "timed out"
    # An error page that is not JSON: python-telegram-bot quotes it after the status.
    message = str(getattr(error, "message", "")).split(". Parsing the server response")[0]
    return f"{type(error).__name__}: {message}"[:200] if message else type(error).__name__


def _always(_: BaseException) -> bool:
    return True


class OutageLog:
    """The outage log of one dependency: one line when its operations start failing, one a
    minute while they fail (with how many did), one when one works again.

    Callers tell it of every outcome: `worked()` after an operation that used the dependency
    and succeeded (or was answered, a refusal included), `outage(error, what)` or
    `failed(error, what)` after one that failed."""

    def __init__(
        self,
        dependency: str,
        *,
        is_outage: Callable[[BaseException], bool] = _always,
        kind: Callable[[BaseException], str] = str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.dependency = dependency
        self._is_outage = is_outage
        self._kind = kind
        self._clock = clock
        self._since: float | None = None
        self._reminded_at = 0.0
        self._failures = 0
        self._failures_reminded = 0
        self.telling = True  # False: failures are not counted (start-up tells them its way)

    @property
    def down(self) -> bool:
        return self._since is not None

    def covers(self, error: BaseException) -> bool:
        """Whether `error` is this dependency being away (rather than a bug or an answer)."""
        return self._is_outage(error)

    def outage(self, error: BaseException, what: str) -> bool:
        """Count the failed operation `what` if `error` is an outage (True); False, logging
        nothing, if it is not."""
        if not self._is_outage(error):
            return False
        self.count(what, self._kind(error))
        return True

    def failed(self, error: BaseException, what: str) -> None:
        """The operation `what` failed: an outage is counted, anything else is a bug and logged
        with its traceback."""
        if not self.outage(error, what):
            log.error("%s failed; trying again shortly", what, exc_info=error)

    def count(self, what: str, kind: str) -> None:
        """One failed operation of an outage: `kind` says how it failed, in a few words."""
        if not self.telling:
            return
        now = self._clock()
        self._failures += 1
        if self._since is None:
            self._since = self._reminded_at = now
            log.warning(
                "%s unavailable (%s; seen by %s): waiting for it, nothing is lost",
                self.dependency,
                kind,
                what,
            )
        elif now - self._reminded_at >= OUTAGE_REMINDER_SECONDS:
            log.warning(
                "%s still unavailable after %.0fs (%s): %d operations failed, %d in the last %.0fs",
                self.dependency,
                now - self._since,
                kind,
                self._failures,
                self._failures - self._failures_reminded,
                now - self._reminded_at,
            )
            self._reminded_at = now
            self._failures_reminded = self._failures

    def worked(self) -> None:
        """An operation using the dependency succeeded (or was answered): any outage is over."""
        if self._since is None:
            return
        log.info(
            "%s back after %.0fs (%d operations failed meanwhile)",
            self.dependency,
            self._clock() - self._since,
            self._failures,
        )
        self._since = None
        self._failures = self._failures_reminded = 0


class Outages:
    """The outage logs of one process, one per dependency."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.database = OutageLog(
            "database", is_outage=is_database_outage, kind=database_kind, clock=clock
        )
        self.telegram = OutageLog(
            "Telegram", is_outage=is_telegram_outage, kind=telegram_kind, clock=clock
        )
        # The Intron client tells its transient failures apart itself (IntronTransientError).
        self.intron = OutageLog("Intron", clock=clock)

    def hold_telegram(self) -> None:
        """Count none of Telegram's failures until `tell_telegram()`: start-up waits for
        Telegram (getMe, setWebhook) and reports why in its own one line."""
        self.telegram.telling = False

    def tell_telegram(self) -> None:
        self.telegram.telling = True

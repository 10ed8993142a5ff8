"""Database start-up and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from tortoise import Tortoise, connections
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.exceptions import ConfigurationError, DBConnectionError
from tortoise.migrations.api import migrate
from tortoise.migrations.loader import MigrationLoader
from tortoise.migrations.recorder import MigrationRecorder

T = TypeVar("T")

MODELS_MODULE = "storage.models"
MIGRATIONS_MODULE = "storage.migrations"
# For the `tortoise` command line (makemigrations after a model change):
#   DATABASE_URL=sqlite://data/bot.sqlite3 tortoise -c storage.db.TORTOISE_ORM makemigrations


# PostgreSQL advisory lock keys (any 64-bit numbers, the same in every instance of the bot).
MIGRATIONS_LOCK = 0x1A7E_0001
POSTGRES_SCHEMES = ("postgres", "postgresql", "asyncpg", "psycopg")


def is_postgres(db_url: str) -> bool:
    return urlsplit(db_url).scheme in POSTGRES_SCHEMES


def libpq_url(db_url: str) -> str:
    """The URL as asyncpg takes it: Tortoise also accepts `asyncpg://` and `psycopg://`."""
    return urlunsplit(urlsplit(db_url)._replace(scheme="postgresql"))


def tortoise_config(db_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": db_url},
        "apps": {
            "models": {
                "models": [MODELS_MODULE],
                "migrations": MIGRATIONS_MODULE,
                "default_connection": "default",
            }
        },
    }


TORTOISE_ORM = tortoise_config(os.environ.get("DATABASE_URL", "sqlite://data/bot.sqlite3"))


SQLITE_EXAMPLE = "sqlite://data/bot.sqlite3"
SUPPORTED = f"{SQLITE_EXAMPLE} (a file) or postgres://user:password@host:5432/dbname"
# The first 16 bytes of every SQLite database file (an empty file is one not yet written).
SQLITE_HEADER = b"SQLite format 3\x00"
# How long start-up's first look at a SQLite file waits for another process's lock: short,
# because that wait cannot be interrupted; start-up tries again instead, and a stop request
# or the deadline is seen between tries.
SQLITE_BUSY_SECONDS = 0.5


class DatabaseUnusable(Exception):
    """The database cannot be used as configured; `str(self)` says why (without secrets)."""


class DatabaseBusy(Exception):
    """Another process holds the database locked: trying again later may help."""


def _sqlite_target(db_url: str) -> tuple[str, str]:
    """(file part, query) of a SQLite URL."""
    target, _, query = db_url.removeprefix("sqlite://").partition("?")
    return target, query


def sqlite_path(db_url: str) -> Path | None:
    """The file of a SQLite URL; None for other databases and for `:memory:`."""
    if not db_url.startswith("sqlite://"):
        return None
    path, _ = _sqlite_target(db_url)
    return Path(path) if path and path != ":memory:" else None


def database_url_problem(db_url: str) -> str | None:
    """Why DATABASE_URL cannot be this bot's database, in words that follow the setting's
    name; None when it may be. Never quotes the URL, which may hold a password."""
    try:
        scheme = urlsplit(db_url).scheme
    except ValueError:
        scheme = ""
    if not scheme or "://" not in db_url:
        return f"must be a database URL: {SUPPORTED}"
    if scheme != "sqlite" and scheme not in POSTGRES_SCHEMES:
        return f"uses {scheme}://, which this bot does not support: use {SUPPORTED}"
    if scheme != "sqlite":
        return None
    path, query = _sqlite_target(db_url)
    if not path:
        return f"names no SQLite file: use a file, e.g. {SQLITE_EXAMPLE}"
    if path == ":memory:" or "mode=memory" in query:
        return (
            "is an in-memory SQLite database, which is gone when the process ends, but the "
            "bot's inbox of received updates and its unfinished jobs must survive a restart: "
            f"use a file, e.g. {SQLITE_EXAMPLE}"
        )
    return None


def sqlite_problem(path: Path) -> str | None:
    """Why the bot could not use `path` as its SQLite file, found without opening or creating
    anything (so `check` may ask too); None when the file is usable or can be created."""
    try:
        if path.exists():
            return _sqlite_file_problem(path)
        # The bot creates the missing folders and the file: the nearest folder that exists
        # must let it.
        existing = path.parent
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir():
            return f"{existing} is not a folder"
        if not os.access(existing, os.W_OK | os.X_OK):
            return f"cannot create {path}: this user may not write to the folder {existing}"
    except OSError as error:
        return f"cannot reach {path}: {_reason(error)}"
    return None


def _sqlite_file_problem(path: Path) -> str | None:
    if not path.is_file():
        return f"{path} is not a file"
    if not os.access(path, os.R_OK | os.W_OK):
        return f"this user may not read and write {path}"
    with path.open("rb") as file:
        header = file.read(len(SQLITE_HEADER))
    if header and header != SQLITE_HEADER:
        return f"{path} is not a SQLite database file"
    return None


def _prepare_sqlite(path: Path) -> None:
    """Before Tortoise opens the file: what `sqlite_problem` checks, the folder created, and
    the file opened and put in WAL mode as Tortoise's first connection does, but with plain
    errors and a short wait for a lock. A first connection that fails inside Tortoise
    (tortoise-orm 1.1) keeps its connection lock, so the migration's next query waits on it
    for good: a file that cannot be opened must not get that far."""
    problem = sqlite_problem(path)
    if problem is not None:
        raise DatabaseUnusable(problem)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = _reason(error)
        raise DatabaseUnusable(f"cannot create the folder {path.parent}: {reason}") from None
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=SQLITE_BUSY_SECONDS)) as db:
            db.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as error:
        if getattr(error, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED"):
            raise DatabaseBusy(f"{path} is locked by another process") from None
        if getattr(error, "sqlite_errorname", "") == "SQLITE_NOTADB":
            raise DatabaseUnusable(f"{path} is not a SQLite database file") from None
        raise DatabaseUnusable(f"cannot open {path}: {error}") from None


async def init_database(db_url: str) -> None:
    """Bring the schema up to date (applying any new migration), then connect.

    The global fallback makes the connection visible from every task python-telegram-bot
    starts, not only from the task that ran this function.
    """
    path = sqlite_path(db_url)
    if path is not None:
        await asyncio.to_thread(_prepare_sqlite, path)
    config = tortoise_config(db_url)
    async with _migrations_lock(db_url):
        await migrate(config=config)
        await Tortoise.close_connections()
    await Tortoise.init(config=config, _enable_global_fallback=True)


@contextlib.asynccontextmanager
async def _migrations_lock(db_url: str) -> AsyncIterator[None]:
    """Several instances starting together on one PostgreSQL database apply each migration
    once: the first to take the lock applies them, the others then find nothing to do. The
    lock is a session's, so it goes with its connection, also when the process dies."""
    if not is_postgres(db_url):
        yield  # SQLite serves one process
        return
    import asyncpg

    connection = await asyncpg.connect(libpq_url(db_url))
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", MIGRATIONS_LOCK)
        yield
    finally:
        await connection.close()


async def close_database() -> None:
    await Tortoise.close_connections()
    # Tortoise keeps each model's INSERT/UPDATE SQL per connection *name*, not per database
    # kind: a process that opens SQLite, closes it and opens PostgreSQL under the same name
    # (tests do; so could an embedding program) would send SQLite's `?` placeholders to it.
    EXECUTOR_CACHE.clear()


async def wait_uncancelled(operation: Awaitable[T], seconds: float) -> T:
    """Wait at most `seconds` for a database operation, raising TimeoutError after that, but
    never cancel it: a Tortoise transaction cut off on SQLite leaves the one connection inside
    that transaction for good. The operation finishes (or fails) on its own."""
    task = asyncio.ensure_future(operation)
    task.add_done_callback(_consume_outcome)
    async with asyncio.timeout(seconds):
        return await asyncio.shield(task)


def _consume_outcome(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so a late failure is not reported as never retrieved


# -- for operators: what state the database is in, and what went wrong, in words ----------

# PostgreSQL SQLSTATEs worth telling apart (asyncpg exceptions carry them as `sqlstate`).
_NO_SUCH_DATABASE = "3D000"
_LOGIN_REFUSED = ("28000", "28P01")
_NOT_YET = ("57P03", "53300")  # the server is starting up; too many connections


def redacted_url(db_url: str) -> str:
    """The URL as it may be shown: any password replaced by ***."""
    try:
        parts = urlsplit(db_url)
        if parts.password is None:
            return db_url
        user = parts.username or ""
        host = parts.hostname or ""
        netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    except ValueError:  # a port that is not a number, say: show nothing after the scheme
        return db_url.split("://", 1)[0] + "://…"
    return urlunsplit(parts._replace(netloc=netloc))


def describe_database_error(error: BaseException, db_url: str) -> tuple[str, bool] | None:
    """(one line for the operator, whether trying again later may help); None when the error
    is not about reaching the database (a bug, which should keep its traceback)."""
    shown = f"DATABASE_URL={redacted_url(db_url)}"
    host = urlsplit(db_url).hostname or "localhost"
    cause = error.__cause__ if isinstance(error, DBConnectionError) else None
    sqlstate = getattr(cause or error, "sqlstate", None)
    if isinstance(error, DatabaseBusy):
        return f"cannot open the SQLite database ({shown}): {error}", True
    if isinstance(error, DatabaseUnusable):
        return f"cannot use the SQLite database ({shown}): {error}", False
    if isinstance(error, ModuleNotFoundError) and error.name in ("asyncpg", "psycopg"):
        return f"{shown} needs the PostgreSQL driver: pip install '.[postgres]'", False
    if isinstance(error, ConfigurationError):
        return f"{shown} is not a database this bot can use ({error})", False
    if sqlstate == _NO_SUCH_DATABASE:
        name = urlsplit(db_url).path.lstrip("/")
        return f"database {name!r} does not exist on {host} ({shown}): create it first", False
    if sqlstate in _LOGIN_REFUSED:
        return f"the database at {host} refused the login ({shown}): {cause or error}", False
    if sqlstate in _NOT_YET:
        return f"the database at {host} is not accepting connections yet ({shown})", True
    if sqlite_path(db_url) is not None and isinstance(error, (sqlite3.Error, OSError)):
        return f"cannot open the SQLite database ({shown}): {_reason(error)}", False
    if isinstance(error, OSError):  # refused, no such host, timed out, DBConnectionError
        return f"database unreachable at {host} ({shown}): {_reason(error)}", True
    return None


def _reason(error: BaseException) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, TimeoutError):
        return "no answer in time"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


@dataclass(frozen=True)
class MigrationState:
    applied: tuple[str, ...]  # recorded in the database
    on_disk: tuple[str, ...]  # in storage/migrations

    @property
    def pending(self) -> tuple[str, ...]:
        return tuple(name for name in self.on_disk if name not in self.applied)

    @property
    def unknown(self) -> tuple[str, ...]:
        """Applied by a newer version of the bot than this one."""
        return tuple(name for name in self.applied if name not in self.on_disk)


async def read_migration_state(db_url: str) -> MigrationState:
    """Connect and compare the applied migrations with the files, changing nothing (start-up
    applies what is pending)."""
    config = tortoise_config(db_url)
    await Tortoise.init(config=config)
    try:
        connection = connections.get("default")
        await connection.execute_query("SELECT 1")
        recorder = MigrationRecorder(connection)
        applied = [k.name for k in await recorder.applied_migrations() if k.app_label == "models"]
        loader = MigrationLoader({"models": config["apps"]["models"]}, recorder)
        loader.load_disk()
        on_disk = sorted(key.name for key in loader.disk_migrations)
    finally:
        await Tortoise.close_connections()
    return MigrationState(applied=tuple(applied), on_disk=tuple(on_disk))


# SQLite leaves an erased row's old bytes in free pages and in its write-ahead log until they
# are reused: `secure_delete` zeroes freed content, and a truncating checkpoint empties the log.
# PostgreSQL keeps the old row versions until VACUUM (autovacuum) reclaims them; docs/ says so.


def _on_sqlite() -> bool:
    return connections.get("default").capabilities.dialect == "sqlite"


async def erase_for_good() -> None:
    """From now on, what SQLite frees is zeroed (the setting holds for the connection)."""
    if _on_sqlite():
        await connections.get("default").execute_script("PRAGMA secure_delete = ON;")


async def truncate_wal() -> None:
    """SQLite: copy the write-ahead log into the database and empty it, so old row images
    left in it (an erasure's, a re-encryption's) are gone from the files. Call it after the
    last write of such a change."""
    if _on_sqlite():
        await connections.get("default").execute_script("PRAGMA wal_checkpoint(TRUNCATE);")

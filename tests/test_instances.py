"""Several bot processes on one PostgreSQL database: one set of jobs, one Intron budget, one
poller, and every recording answered exactly once, also when an instance is killed."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from storage.db import MIGRATIONS_MODULE
from tests.conftest import (
    BotProcess,
    count_jobs,
    count_rows,
    replies_to,
    send_voice,
    settings_env,
    transcript_replies,
    worker_id_for,
)
from tests.fakes.intron_api import FakeIntron
from tests.fakes.telegram import FakeTelegram
from tests.test_delivery import MAYBE_MISSING
from tests.test_settings import press

pytestmark = pytest.mark.postgres_only

INSTANCES = 3
CHATS = 20
NOTES = 100
# Intron's limits, scaled to a 4-second window so that they bind within the test: 100 uploads
# need four windows whichever instances make them, and polls share 40 a window.
RATE_WINDOW = 4.0
UPLOADS_PER_WINDOW = 25
STATUS_PER_WINDOW = 40
PROCESSING_SECONDS = 2.0
LEADER_LINE = "polling: this instance polls Telegram now"
# Hang protection only.
WITHIN_SECONDS = 240.0


class Instance:
    """One `python -m bot` whose log is read as it comes (a full pipe would block it)."""

    def __init__(self, name: str, env: dict[str, str], cwd: Path) -> None:
        self.name = name
        self.process = BotProcess(env, cwd)
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.process.start()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        proc = self.process.proc
        assert proc is not None and proc.stdout is not None
        while line := await proc.stdout.readline():
            self.process.output += line

    def logged(self, text: str) -> int:
        return self.process.output.decode(errors="replace").count(text)

    async def kill(self) -> None:
        assert self.process.proc is not None
        self.process.proc.kill()
        await self.process.proc.wait()

    async def stop(self) -> int:
        proc = self.process.proc
        assert proc is not None
        if proc.returncode is None:
            proc.terminate()
        code = await asyncio.wait_for(proc.wait(), 30)
        if self._reader is not None:
            await self._reader
        return code


@contextlib.asynccontextmanager
async def instances(
    telegram: FakeTelegram, intron: FakeIntron, database_url: str, tmp_path: Path, **env: str
) -> AsyncIterator[list[Instance]]:
    """INSTANCES bot processes started at the same moment on one fresh database."""
    running = []
    for number in range(INSTANCES):
        folder = tmp_path / f"instance-{number}"
        folder.mkdir()
        name = f"{worker_id_for(database_url)}-{number}"
        running.append(
            Instance(
                name,
                settings_env(
                    telegram, intron, database_url, WORKER_ID=name, TMPDIR=str(folder), **env
                ),
                folder,
            )
        )
    try:
        await asyncio.gather(*(instance.start() for instance in running))
        await telegram.wait_for(lambda: all(i.logged("bot started") for i in running), timeout=60)
        yield running
    finally:
        for instance in running:
            with contextlib.suppress(ProcessLookupError):
                await instance.stop()


async def what_is_left(database_url: str, bots: list[Instance]) -> str:
    """For a failure message: where the jobs and updates stand, and what the bots warned."""
    conn = await asyncpg.connect(database_url)
    try:
        jobs = await conn.fetch(
            "SELECT state, lease_owner, count(*) AS n FROM jobs GROUP BY state, lease_owner"
        )
        inbox = await conn.fetchval("SELECT count(*) FROM inbox_updates WHERE handled_at IS NULL")
    finally:
        await conn.close()
    lines = [f"jobs: {[dict(r) for r in jobs]}", f"unhandled updates: {inbox}"]
    for bot in bots:
        warnings = [
            line
            for line in bot.process.output.decode(errors="replace").splitlines()
            if " WARNING " in line or " ERROR " in line or "Traceback" in line
        ]
        lines.append(f"{bot.name}: {len(warnings)} warnings/errors; last: {warnings[-5:]}")
    return "\n".join(lines)


def answers_to(telegram: FakeTelegram, recording: dict[str, Any]) -> list[dict[str, Any]]:
    chat = recording["chat"]["id"]
    return [
        m
        for m in transcript_replies(telegram, chat)
        if m.get("reply_to_message_id") == recording["message_id"]
    ]


def maybe_missing_notices(
    telegram: FakeTelegram, recording: dict[str, Any]
) -> list[dict[str, Any]]:
    """The bot's word that a part of this recording's answer may be missing."""
    return [
        m
        for m in replies_to(telegram, recording["chat"]["id"], recording["message_id"])
        if not m["deleted"] and m.get("text", "").startswith(MAYBE_MISSING)
    ]


def maybe_missing_notice(telegram: FakeTelegram, recording: dict[str, Any]) -> dict[str, Any]:
    [notice] = maybe_missing_notices(telegram, recording)
    return notice


def migration_files() -> int:
    folder = Path(__file__).parent.parent / MIGRATIONS_MODULE.replace(".", "/")
    return len([p for p in folder.glob("0*.py")])


async def test_three_instances_answer_each_recording_once_when_one_is_killed(
    telegram: FakeTelegram, intron: FakeIntron, postgres_url: str, tmp_path: Path
) -> None:
    intron.rate_limits = {"upload": UPLOADS_PER_WINDOW, "status": STATUS_PER_WINDOW}
    intron.rate_window = RATE_WINDOW
    intron.processing_seconds = PROCESSING_SECONDS
    started = time.monotonic()
    async with instances(
        telegram,
        intron,
        postgres_url,
        tmp_path,
        INTRON_RATE_WINDOW_SECONDS=str(RATE_WINDOW),
        INTRON_UPLOAD_PER_MINUTE=str(UPLOADS_PER_WINDOW),
        INTRON_STATUS_PER_MINUTE=str(STATUS_PER_WINDOW),
    ) as bots:
        # All three applied the migrations at once: each was recorded once.
        assert await count_rows(postgres_url, "tortoise_migrations") == migration_files()
        await telegram.wait_for(lambda: sum(b.logged(LEADER_LINE) for b in bots) == 1)
        [leader] = [b for b in bots if b.logged(LEADER_LINE)]

        sent = [send_voice(telegram, 9100 + n % CHATS) for n in range(NOTES)]

        def delivered() -> int:
            return sum(len(transcript_replies(telegram, 9100 + c)) for c in range(CHATS))

        # Mid-run: some results out, most recordings still on their way.
        await telegram.wait_for(lambda: delivered() >= NOTES // 5, timeout=WITHIN_SECONDS)
        await leader.kill()
        killed_at = time.monotonic()
        survivors = [b for b in bots if b is not leader]
        await telegram.wait_for(lambda: sum(b.logged(LEADER_LINE) for b in survivors) == 1)
        takeover = time.monotonic() - killed_at

        try:
            await telegram.wait_for(
                lambda: all(
                    answers_to(telegram, m) or maybe_missing_notices(telegram, m) for m in sent
                ),
                timeout=WITHIN_SECONDS,
            )
        except AssertionError:
            raise AssertionError(await what_is_left(postgres_url, bots)) from None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WITHIN_SECONDS
        while await count_jobs(postgres_url, "delivered") < NOTES:
            assert loop.time() < deadline, "not every job reached 'delivered'"
            await asyncio.sleep(0.1)
        # Killed between recording that a part was leaving and Telegram getting it, a part is
        # missing, and the chat was told so, with a button: the user presses it.
        missing = [m for m in sent if not answers_to(telegram, m)]
        for recording in missing:
            notice = maybe_missing_notice(telegram, recording)
            await press(telegram, recording["chat"]["id"], notice["message_id"], "Send the result")
            await telegram.wait_for(lambda r=recording: bool(answers_to(telegram, r)))
        notices = sum(bool(maybe_missing_notices(telegram, m)) for m in sent)
        assert notices == sum(b.logged("was on its way (taken: True)") for b in survivors)
        for survivor in survivors:
            assert await survivor.stop() == 0
    took = time.monotonic() - started

    answers = Counter(
        (m["chat"]["id"], m.get("reply_to_message_id"))
        for c in range(CHATS)
        for m in transcript_replies(telegram, 9100 + c)
    )
    expected = {(m["chat"]["id"], m["message_id"]) for m in sent}
    assert set(answers) == expected
    assert [key for key, n in answers.items() if n != 1] == []
    assert intron.violations == []
    assert intron.concurrent_polls() == []
    assert intron.max_calls_in_window("upload", RATE_WINDOW) <= UPLOADS_PER_WINDOW
    assert intron.max_calls_in_window("status", RATE_WINDOW) <= STATUS_PER_WINDOW
    # One poller at a time: no live poller was told another one had taken over.
    conflicts = [r for r in telegram.rejections if r[0] == "getUpdates" and "onflict" in r[2]]
    assert len(conflicts) <= 1
    print(
        f"\n{NOTES} notes, {INSTANCES} instances, one killed: {took:.1f}s; polling taken over "
        f"after {takeover:.1f}s; uploads {len(intron.uploads)}, "
        f"status calls {len(intron.calls_to('status'))}"
    )

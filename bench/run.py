"""Benchmark: the bot's job engine against a naive 5-second poller, on loopback fakes.

Run from the project root: `python -m bench.run` (or `python bench/run.py`); `--help` lists
the options. Each scenario runs every contender, one after the other, each as its own
subprocess against fresh fakes of Telegram and Intron served from this process's event loop.
The table goes to stdout and to bench/results.md. See bench/README.md for how to read it.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import random
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/run.py` puts bench/, not the root, on the path
    sys.path.insert(0, str(ROOT))

from tests.conftest import fixture_bytes, settings_env  # noqa: E402
from tests.fakes.intron_api import DEFAULT_TRANSCRIPT, ENDPOINTS, FakeIntron, Upload  # noqa: E402
from tests.fakes.telegram import FakeTelegram  # noqa: E402

STATUS_LIMIT = 100  # Intron's status calls per minute per key
UPLOAD_LIMIT = 60  # Intron's uploads per minute per key
WINDOW_SECONDS = 60.0
RESULT_MARK = "📝 Transcript"
REFERENCE = re.compile(r"bench-ref-(\d+)")
SMALL_RECORDING = "voice_consultation.ogg"
STOP_GRACE_SECONDS = 15.0
READY_TIMEOUT_SECONDS = 120.0  # a busy 2-core machine starting a dozen bots at once
RESULTS_FILE = ROOT / "bench" / "results.md"
MEMORY_TARGET_MB = 200.0  # the engine's peak RSS with 40 notes of 15 MB arriving at once


# -- instrumented fakes -------------------------------------------------------------------


@dataclass(frozen=True)
class Arrival:
    """A message the bot got Telegram to accept, and when (time.monotonic(), this process)."""

    at: float
    chat_id: int
    message_id: int
    reply_to: int | None
    text: str


class TimedTelegram(FakeTelegram):
    """FakeTelegram that notes the moment each bot message (text or document) is accepted."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[Arrival] = []

    def _store_bot_message(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        message = super()._store_bot_message(*args, **kwargs)
        reply = message.get("reply_to_message") or {}
        self.arrivals.append(
            Arrival(
                at=time.monotonic(),
                chat_id=message["chat"]["id"],
                message_id=message["message_id"],
                reply_to=reply.get("message_id"),
                text=message.get("text") or message.get("caption") or "",
            )
        )
        return message

    def results(self) -> list[Arrival]:
        return [a for a in self.arrivals if RESULT_MARK in a.text]


@dataclass(frozen=True)
class Note:
    """One voice note of a trace: when it is sent, how long it is, how long Intron takes."""

    send_at: float  # seconds after the first note
    audio_seconds: int
    intron_seconds: float
    chat: int | None = None  # which of the regime's chats sends it (None: note n, chat n % chats)
    group: str = ""  # reported on its own beside the others (say, one chat's batch)


class IntronJobs:
    """Recognises each upload as the trace's n-th note (its bytes end with a reference), gives
    it that note's Intron time, tags its transcript with n so a chat's result can be traced
    back, and drops the uploaded bytes after noting their length."""

    def __init__(self, intron: FakeIntron, notes: list[Note]) -> None:
        self.notes = notes
        self.index: dict[str, int] = {}
        self.sizes: list[int] = []
        intron.audio_seconds_for = self._audio_seconds
        intron.processing_time_for = self._processing_time
        intron.transcript_for = self._transcript

    def _note(self, upload: Upload) -> int:
        if upload.file_id not in self.index:
            ref = REFERENCE.search(upload.blob[-32:].decode(errors="replace"))
            self.index[upload.file_id] = int(ref.group(1)) if ref else -1
        return self.index[upload.file_id]

    def _audio_seconds(self, upload: Upload) -> float | None:
        n = self._note(upload)
        return None if n < 0 else float(self.notes[n].audio_seconds)

    def _processing_time(self, upload: Upload) -> float:
        n = self._note(upload)
        self.sizes.append(len(upload.blob))
        upload.blob = b""  # 200 notes would otherwise stay in this process
        return 3.0 if n < 0 else self.notes[n].intron_seconds

    def _transcript(self, upload: Upload) -> str:
        return f"{DEFAULT_TRANSCRIPT} bench-ref-{self.index[upload.file_id]:04d}"


def padded(audio: bytes, size_mb: float, seed: int) -> bytes:
    """The real recording followed by seeded random bytes, `size_mb` MB in all."""
    extra = int(size_mb * 1024 * 1024) - len(audio)
    return audio + random.Random(seed).randbytes(max(0, extra))


def tagged(audio: bytes, n: int) -> bytes:
    return audio + f"bench-ref-{n:04d}".encode()


# -- regimes and contenders ---------------------------------------------------------------


@dataclass(frozen=True)
class Regime:
    name: str
    what: str
    notes: list[Note]
    chats: int
    sync_offered: bool = False
    file_mb: float | None = None  # None: the small real recording from tests/fixtures
    # The contender is killed (SIGKILL) this long after the last upload reached Intron, then
    # started again on the same database; None: no restart.
    kill_after_uploads: float | None = None

    def chat_of(self, n: int) -> int:
        chat = self.notes[n].chat
        return 910_000 + (n % self.chats if chat is None else chat)


@dataclass(frozen=True)
class Contender:
    name: str
    module: str  # run as `python -m <module>`


CONTENDERS = {
    "engine": Contender("engine", "bot"),
    "naive": Contender("naive", "bench.naive_bot"),
    "round-robin": Contender("round-robin", "bench.round_robin_bot"),
}


def _growing(rng: random.Random, audio: float, low: float, high: float, top: float) -> float:
    """Intron's time growing with the audio's length, from `low` to `high` s, give or take 10%."""
    share = min(1.0, audio / top)
    return min(high, max(low, (low + (high - low) * share) * rng.uniform(0.9, 1.1)))


def _noisy(rng: random.Random, audio: float, low: float, high: float, top: float) -> float:
    """Intron's time loosely tied to the audio's length: the trend from `low` to `high` s,
    scattered by a factor of about 1.6 either way (log-normal), kept within `low`..`high`."""
    trend = low + (high - low) * min(1.0, audio / top)
    return min(high, max(low, trend * math.exp(rng.gauss(0.0, 0.5))))


def duration_of(regime: Regime) -> float:
    """Roughly how long a regime runs: its sending, Intron's time, and 60 uploads a minute."""
    notes = regime.notes
    return max(n.send_at + n.intron_seconds for n in notes) + 60.0 * (len(notes) // 60)


def batch_beside_singles(r: random.Random, batch: int, singles: int, scale: float) -> list[Note]:
    """One chat's batch at once, then each of `singles` other chats one note, a few seconds
    later (Intron 2 to 6 s for all)."""
    notes = [
        Note(0.0, r.randint(5, 60), r.uniform(2, 6) * scale, chat=0, group="batch")
        for _ in range(batch)
    ]
    notes += [
        Note(3.0 + 0.5 * i, r.randint(5, 60), r.uniform(2, 6) * scale, chat=1 + i, group="others")
        for i in range(singles)
    ]
    return notes


def regimes(seed: int, smoke: bool) -> dict[str, Regime]:
    """Every regime's trace, seeded. Smoke mode: a few notes each, Intron in well under 1 s."""

    def rng(name: str) -> random.Random:
        return random.Random(f"{seed}/{name}")

    scale = 0.1 if smoke else 1.0

    def n(full: int, few: int) -> int:
        return few if smoke else full

    def at_once(count: int, r: random.Random, low: float, high: float) -> list[Note]:
        return [Note(0.0, r.randint(5, 60), r.uniform(low, high) * scale) for _ in range(count)]

    r_grow = rng("burst-growing")
    grow_audio = [r_grow.randint(30, 1800) for _ in range(n(40, 3))]
    r_trickle = rng("trickle")
    trickle_every = 0.5 if smoke else 3.0
    trickle = []
    for i in range(n(100, 3)):
        audio = r_trickle.randint(30, 1200)
        trickle.append(
            Note(i * trickle_every, audio, _growing(r_trickle, audio, 2, 20, 1200) * scale)
        )
    short = at_once(n(20, 3), rng("short"), 2, 12)
    r_noisy = rng("burst-noisy")
    noisy_audio = [r_noisy.randint(30, 1800) for _ in range(n(40, 3))]
    r_restart = rng("restart")
    # Intron 10 s each (smoke: 4 s), so that the restarted bot finds them all still at Intron.
    restart = [
        Note(0.0, r_restart.randint(5, 60), 4.0 if smoke else 10.0, group="restarted")
        for _ in range(n(20, 3))
    ]
    batch_size, singles = n(100, 3), n(10, 2)
    memory_mb = 1.0 if smoke else 15.0
    catalog = [
        Regime(
            "one-30s",
            "one 30 s note, Intron 2–6 s",
            [Note(0, 30, rng("one").uniform(2, 6) * scale)],
            1,
        ),
        Regime("one-15min", "one 15 min note, Intron 4 s", [Note(0, 900, 4 * scale)], 1),
        Regime(
            "burst-40", "40 notes at once, Intron 2–6 s", at_once(n(40, 3), rng("burst"), 2, 6), 10
        ),
        Regime(
            "burst-40-long",
            "40 notes at once (0.5–30 min), Intron 2–30 s growing with length",
            [Note(0, a, _growing(r_grow, a, 2, 30, 1800) * scale) for a in grow_audio],
            10,
        ),
        Regime(
            "trickle",
            "a note every 3 s for 5 min (0.5–20 min), Intron 2–20 s growing with length",
            trickle,
            10,
        ),
        Regime(
            "queue-200",
            "200 notes at once, Intron 2–6 s",
            at_once(n(200, 5), rng("queue"), 2, 6),
            20,
        ),
        Regime("short-20", "20 short notes at once, Intron 2–12 s, no sync upload", short, 10),
        Regime("short-20-sync", "the same 20 notes, host offers the sync upload", short, 10, True),
        Regime(
            "memory-40x15MB",
            f"{n(40, 3)} notes of {memory_mb:g} MB each at once, Intron 2–6 s",
            at_once(n(40, 3), rng("memory"), 2, 6),
            10,
            file_mb=memory_mb,
        ),
        Regime(
            "batch-100+10",
            f"one chat's {batch_size} notes at once, then {singles} other chats one note each "
            "a few seconds later, Intron 2–6 s",
            batch_beside_singles(rng("batch"), batch_size, singles, scale),
            1 + singles,
        ),
        Regime(
            "restart-20",
            f"{len(restart)} notes at once, Intron {restart[0].intron_seconds:g} s each; kill -9 "
            "1 s after the last upload, restart with nothing learned",
            restart,
            10,
            kill_after_uploads=1.0,
        ),
        Regime(
            "burst-40-noisy",
            "40 notes at once (0.5–30 min), Intron 2–30 s, its trend with length scattered "
            "by a factor of 1.6",
            [Note(0, a, _noisy(r_noisy, a, 2, 30, 1800) * scale) for a in noisy_audio],
            10,
        ),
    ]
    return {regime.name: regime for regime in catalog}


@dataclass
class Measurement:
    regime: Regime
    contender: str
    jobs: int
    delivered: int = 0
    duplicates: int = 0
    latencies: list[float] = field(default_factory=list)
    latency_of: dict[int, float] = field(default_factory=dict)  # note -> its added latency
    end_to_end: list[float] = field(default_factory=list)
    status_calls: int = 0
    uploads: int = 0
    max_status_window: int = 0
    violations: dict[str, int] = field(default_factory=dict)
    exit_code: int | None = None
    stop_seconds: float = 0.0
    peak_rss_mb: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def exactly_one_each(self) -> bool:
        return self.delivered == self.jobs and self.duplicates == 0

    @property
    def total_violations(self) -> int:
        return sum(self.violations.values())


# -- the contender process ----------------------------------------------------------------


def _open_log(path: Path) -> IO[bytes]:
    return path.open("wb")


def _log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def peak_rss_mb(pid: int) -> float | None:
    """The process's high-water resident set size (VmHWM), in MB; None off Linux."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    return None


async def stop_process(proc: asyncio.subprocess.Process) -> tuple[int, float]:
    """SIGTERM, wait up to 15 s, then SIGKILL. Returns the exit code and the time it took."""
    started = time.monotonic()
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), STOP_GRACE_SECONDS)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    return proc.returncode if proc.returncode is not None else -1, time.monotonic() - started


# -- one run ------------------------------------------------------------------------------


@dataclass
class Settings:
    seed: int
    smoke: bool
    run_timeout: float
    settle: float
    verbose: bool


async def start_contender(
    contender: Contender, env: dict[str, str], workdir: Path, log_file: IO[bytes]
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        contender.module,
        env=env,
        cwd=workdir,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=log_file,
        stderr=asyncio.subprocess.STDOUT,
    )


async def wait_until_ready(
    telegram: FakeTelegram, proc: asyncio.subprocess.Process, log_path: Path, polls_before: int = 0
) -> None:
    """Until `proc` asks Telegram for updates: past `polls_before` getUpdates calls (those of
    a process before it)."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while len(telegram.calls("getUpdates")) <= polls_before:
        if proc.returncode is not None:
            raise RuntimeError(f"contender exited with {proc.returncode}:\n{_log_tail(log_path)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"contender never polled Telegram:\n{_log_tail(log_path)}")
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # the engine starts its Application right after the first poll


async def kill_and_restart(
    regime: Regime,
    contender: Contender,
    run: tuple[dict[str, str], Path, IO[bytes], Path],
    proc: asyncio.subprocess.Process,
    telegram: FakeTelegram,
    intron: FakeIntron,
    deadline: float,
) -> asyncio.subprocess.Process:
    """Once every note is at Intron, wait `kill_after_uploads`, SIGKILL the contender and
    start it again on the same database and folder; returns once the new process is ready,
    so that nothing (a SIGTERM at the run's end included) reaches it during its start-up."""
    env, workdir, log_file, log_path = run
    while len(intron.uploads) < len(regime.notes):
        if proc.returncode is not None or time.monotonic() > deadline:
            raise RuntimeError(
                f"{len(intron.uploads)} of {len(regime.notes)} notes reached Intron before "
                f"the kill:\n{_log_tail(log_path)}"
            )
        await asyncio.sleep(0.05)
    await asyncio.sleep(regime.kill_after_uploads or 0.0)
    proc.kill()
    await proc.wait()
    polls_before = len(telegram.calls("getUpdates"))
    restarted = await start_contender(contender, env, workdir, log_file)
    await wait_until_ready(telegram, restarted, log_path, polls_before)
    return restarted


async def wait_for_results(
    telegram: TimedTelegram,
    jobs: dict[tuple[int, int], int],
    proc: asyncio.subprocess.Process,
    deadline: float,
) -> None:
    while True:
        answered = {(a.chat_id, a.reply_to) for a in telegram.results()}
        if set(jobs) <= answered or proc.returncode is not None or time.monotonic() > deadline:
            return
        await asyncio.sleep(0.05)


async def run_one(
    regime: Regime, contender: Contender, audio: bytes, settings: Settings
) -> Measurement:
    measurement = Measurement(regime, contender.name, len(regime.notes))
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{regime.name}-{contender.name}-"))
    log_path = workdir / "contender.log"
    telegram = TimedTelegram()
    intron = FakeIntron()
    intron.sync_mode = "offered" if regime.sync_offered else "missing"
    tracker = IntronJobs(intron, regime.notes)
    proc: asyncio.subprocess.Process | None = None
    log_file: IO[bytes] | None = None
    await telegram.start()
    await intron.start()
    try:
        env = settings_env(telegram, intron, f"sqlite://{workdir / 'bot.sqlite3'}")
        log_file = _open_log(log_path)
        proc = await start_contender(contender, env, workdir, log_file)
        await wait_until_ready(telegram, proc, log_path)

        first_pushed = time.monotonic()
        jobs: dict[tuple[int, int], int] = {}
        sent_at: dict[int, float] = {}
        for n, note in enumerate(regime.notes):
            delay = first_pushed + note.send_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            chat = regime.chat_of(n)
            voice = telegram.voice(tagged(audio, n), duration=note.audio_seconds)
            sent = telegram.user_message(chat, voice=voice)
            jobs[(chat, sent["message_id"])] = n
            sent_at[n] = time.monotonic()
        deadline = first_pushed + settings.run_timeout
        if regime.kill_after_uploads is not None:
            run = (env, workdir, log_file, log_path)
            proc = await kill_and_restart(regime, contender, run, proc, telegram, intron, deadline)
            # A baseline keeps its jobs in memory only: after the kill it has nothing to wait
            # for, so the wait ends a while after Intron's last job rather than at the timeout.
            lost_after = max(note.intron_seconds for note in regime.notes) + (
                3.0 if settings.smoke else 30.0
            )
            deadline = min(deadline, time.monotonic() + lost_after)
        await wait_for_results(telegram, jobs, proc, deadline)
        await asyncio.sleep(settings.settle)  # a duplicate answer would show up now

        if proc.returncode is not None:
            measurement.notes.append(f"exited early with {proc.returncode}")
        else:  # the high-water mark is gone with the process
            measurement.peak_rss_mb = peak_rss_mb(proc.pid)
        measurement.exit_code, measurement.stop_seconds = await stop_process(proc)
        measure(measurement, telegram, intron, tracker, jobs, sent_at, len(audio))
        if not measurement.exactly_one_each or measurement.exit_code != 0 or settings.verbose:
            print(
                f"--- {regime.name} / {contender.name} log tail ---\n{_log_tail(log_path)}",
                file=sys.stderr,
            )
    finally:
        if proc is not None and proc.returncode is None:
            await stop_process(proc)
        if log_file is not None:
            log_file.close()
        await telegram.stop()
        await intron.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return measurement


def measure(
    m: Measurement,
    telegram: TimedTelegram,
    intron: FakeIntron,
    tracker: IntronJobs,
    jobs: dict[tuple[int, int], int],
    sent_at: dict[int, float],
    file_size: int,
) -> None:
    by_job: dict[tuple[int, int], list[Arrival]] = defaultdict(list)
    strays = 0
    for arrival in telegram.results():
        key = (arrival.chat_id, arrival.reply_to or -1)
        if key in jobs:
            by_job[key].append(arrival)
        else:
            strays += 1
    m.delivered = len(by_job)
    m.duplicates = sum(len(arrivals) - 1 for arrivals in by_job.values()) + strays
    done_at = {tracker.index[u.file_id]: u.done_at for u in intron.uploads}
    for key, arrivals in by_job.items():
        first = min(arrivals, key=lambda a: a.at)
        ref = REFERENCE.search(first.text)
        if ref is None or int(ref.group(1)) != jobs[key]:
            m.notes.append(f"result of another note in chat {first.chat_id}")
            continue
        n = jobs[key]
        m.latencies.append(first.at - done_at[n])
        m.latency_of[n] = first.at - done_at[n]
        m.end_to_end.append(first.at - sent_at[n])
    m.status_calls = len(intron.calls_to("status"))
    m.uploads = len(intron.uploads)
    m.max_status_window = intron.max_calls_in_window("status", WINDOW_SECONDS)
    m.violations = {e: intron.calls_over_limit(e, WINDOW_SECONDS) for e in ENDPOINTS}
    if m.delivered < m.jobs:
        m.notes.append(f"{m.jobs - m.delivered} jobs got no result")
    if m.duplicates:
        m.notes.append(f"{m.duplicates} extra results")
    if m.uploads != m.jobs:
        m.notes.append(f"{m.uploads} uploads for {m.jobs} jobs")
    if any(size != file_size + len("bench-ref-0000") for size in tracker.sizes):
        m.notes.append("an upload did not carry the whole file")
    if m.total_violations:
        m.notes.append(f"over Intron's limits: {m.violations}")
    if m.exit_code != 0:
        m.notes.append(f"exit code {m.exit_code} after SIGTERM")
    if m.stop_seconds > 5:
        m.notes.append(f"took {m.stop_seconds:.1f}s to stop")
    if over_memory_target(m):
        m.notes.append(
            f"peak RSS {m.peak_rss_mb:.0f} MB, over the {MEMORY_TARGET_MB:.0f} MB target"
        )


def over_memory_target(m: Measurement) -> bool:
    """The engine streams files through disk, so big files must not show in its memory."""
    return (
        m.contender == "engine"
        and m.regime.file_mb is not None
        and m.peak_rss_mb is not None
        and m.peak_rss_mb > MEMORY_TARGET_MB
    )


# -- reporting ----------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def table(measurements: list[Measurement]) -> str:
    header = (
        "| regime | contender | one result per job | added latency median (s) "
        "| added latency p95 (s) | end to end median (s) | status calls / job "
        "| max status / 60 s (limit 100) | rate-limit violations |"
    )
    rows = [header, "|" + "---|" * 9]
    for m in measurements:
        lat = m.latencies
        one_each = (
            f"yes ({m.delivered}/{m.jobs})"
            if m.exactly_one_each
            else f"NO ({m.delivered}/{m.jobs}, {m.duplicates} extra)"
        )
        rows.append(
            f"| {m.regime.name} | {m.contender} | {one_each} "
            f"| {_seconds(statistics.median(lat) if lat else None)} "
            f"| {_seconds(percentile(lat, 0.95) if lat else None)} "
            f"| {_seconds(statistics.median(m.end_to_end) if m.end_to_end else None)} "
            f"| {m.status_calls / m.jobs:.1f} "
            f"| {m.max_status_window} "
            f"| {m.total_violations} |"
        )
    return "\n".join(rows)


def memory_table(measurements: list[Measurement]) -> str:
    """Peak RSS of the regimes with big files; the others' small recording says little."""
    rows = [
        "| regime | contender | file size (MB) | peak RSS (MB) |",
        "|" + "---|" * 4,
    ]
    for m in measurements:
        if m.regime.file_mb is None:
            continue
        rows.append(
            f"| {m.regime.name} | {m.contender} | {m.regime.file_mb:g} "
            f"| {'–' if m.peak_rss_mb is None else f'{m.peak_rss_mb:.0f}'} |"
        )
    return "\n".join(rows)


def group_table(measurements: list[Measurement]) -> str:
    """The added latency of each group of notes on its own (a batch, the chats beside it)."""
    rows = [
        "| regime | contender | group | results | added latency median (s) "
        "| added latency worst (s) |",
        "|" + "---|" * 6,
    ]
    for m in measurements:
        groups: dict[str, list[int]] = defaultdict(list)
        for n, note in enumerate(m.regime.notes):
            if note.group:
                groups[note.group].append(n)
        for group, members in groups.items():
            lat = [m.latency_of[n] for n in members if n in m.latency_of]
            rows.append(
                f"| {m.regime.name} | {m.contender} | {group} | {len(lat)}/{len(members)} "
                f"| {_seconds(statistics.median(lat) if lat else None)} "
                f"| {_seconds(max(lat) if lat else None)} |"
            )
    return "\n".join(rows)


def each_result(measurements: list[Measurement]) -> list[str]:
    """Restarted runs: every result's added latency, in the notes' order."""
    return [
        f"- {m.regime.name} / {m.contender}: "
        + (
            ", ".join(f"{m.latency_of[n]:.2f}" for n in sorted(m.latency_of))
            if m.latency_of
            else "no result (its jobs were held in memory only)"
        )
        for m in measurements
        if m.regime.kill_after_uploads is not None
    ]


def report(measurements: list[Measurement], settings: Settings, wall: float) -> str:
    notes = [
        f"- {m.regime.name} / {m.contender}: {'; '.join(m.notes)}" for m in measurements if m.notes
    ]
    seen: dict[str, str] = {m.regime.name: m.regime.what for m in measurements}
    lines = [
        "# Benchmark results" + (" (smoke mode)" if settings.smoke else ""),
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, seed {settings.seed}, {wall:.0f} s in all.",
        "",
        *(f"- `{name}`: {what}" for name, what in seen.items()),
        "",
        table(measurements),
    ]
    if any(m.regime.file_mb is not None for m in measurements):
        lines += [
            "",
            "Peak resident memory of each contender's process with big files (VmHWM, read just "
            "before SIGTERM):",
            "",
            memory_table(measurements),
        ]
    if any(note.group for m in measurements for note in m.regime.notes):
        lines += ["", "Added latency by group of notes:", "", group_table(measurements)]
    if restarted := each_result(measurements):
        lines += ["", "Added latency of each result after the restart (s):", "", *restarted]
    if notes:
        lines += ["", "Notes:", "", *notes]
    return "\n".join(lines) + "\n"


# -- command line -------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    names = list(regimes(0, smoke=False))
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="The job engine against two baseline pollers, on loopback fakes.",
    )
    parser.add_argument(
        "--regimes", nargs="+", default=names, choices=names, help="which regimes (default: all)"
    )
    parser.add_argument(
        "--contenders",
        nargs="+",
        default=list(CONTENDERS),
        choices=list(CONTENDERS),
        help="which bots to measure (default: all three)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a few notes per regime, Intron in well under a second: seconds, not minutes (CI)",
    )
    parser.add_argument("--parallel", type=int, default=6, help="runs at once (0: all of them)")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument(
        "--run-timeout", type=float, default=420.0, help="give up on a run after this long"
    )
    parser.add_argument(
        "--settle", type=float, default=1.0, help="wait after the last result for duplicates"
    )
    parser.add_argument("--output", type=Path, default=RESULTS_FILE, help="Markdown file")
    parser.add_argument("--verbose", action="store_true", help="print each contender's log tail")
    return parser.parse_args(argv)


async def amain(args: argparse.Namespace) -> list[Measurement]:
    settings = Settings(
        seed=args.seed,
        smoke=args.smoke,
        run_timeout=60.0 if args.smoke else args.run_timeout,
        settle=args.settle,
        verbose=args.verbose,
    )
    small = fixture_bytes(SMALL_RECORDING)
    catalog = regimes(settings.seed, settings.smoke)
    audio: dict[str, bytes] = {
        name: small if regime.file_mb is None else padded(small, regime.file_mb, settings.seed)
        for name, regime in catalog.items()
        if name in args.regimes
    }
    pairs = [
        (catalog[r], CONTENDERS[c]) for r in args.regimes for c in dict.fromkeys(args.contenders)
    ]
    # The longest regimes start first, so the others fill the remaining slots meanwhile.
    starts = sorted(range(len(pairs)), key=lambda i: -duration_of(pairs[i][0]))
    slots = asyncio.Semaphore(args.parallel or len(pairs))
    started = time.monotonic()

    async def one(regime: Regime, contender: Contender) -> Measurement:
        async with slots:
            print(f"{regime.name}: running {contender.name}…", file=sys.stderr, flush=True)
            try:
                m = await run_one(regime, contender, audio[regime.name], settings)
            except Exception as exc:  # one broken run must not hide the others' numbers
                m = Measurement(regime, contender.name, len(regime.notes))
                m.notes.append(f"run failed: {exc}")
            print(f"{regime.name}: {contender.name} done. {'; '.join(m.notes)}", file=sys.stderr)
            return m

    tasks = {i: asyncio.create_task(one(*pairs[i])) for i in starts}
    measurements = [await tasks[i] for i in range(len(pairs))]
    text = report(measurements, settings, time.monotonic() - started)
    print(text)
    args.output.write_text(text)
    print(f"written to {args.output}", file=sys.stderr)
    return measurements


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    measurements = asyncio.run(amain(args))
    # The engine must keep its promises; the baselines are measured, not judged.
    engine_ok = all(
        m.exactly_one_each and m.total_violations == 0
        for m in measurements
        if m.contender == "engine"
    ) and not any(over_memory_target(m) for m in measurements)
    # A baseline keeps no jobs across a kill -9: its loss there is the measurement.
    kept = [m for m in measurements if m.regime.kill_after_uploads is None]
    return 0 if engine_ok and all(m.exactly_one_each for m in kept) else 1


if __name__ == "__main__":
    sys.exit(main())

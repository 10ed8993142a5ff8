"""Benchmark: the bot's job engine against a naive 5-second poller, on loopback fakes.

Run from the project root: `python -m bench.run` (or `python bench/run.py`); `--help` lists
the options. Each scenario runs every contender, one after the other, each as its own
subprocess against fresh fakes of Telegram and Intron served from this process's event loop.
The table goes to stdout and to bench/results.md. See bench/README.md for how to read it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from tests.fakes.intron_api import DEFAULT_TRANSCRIPT, FakeIntron, Upload  # noqa: E402
from tests.fakes.telegram import FakeTelegram  # noqa: E402

STATUS_LIMIT = 100  # Intron's status calls per minute per key
UPLOAD_LIMIT = 60  # Intron's uploads per minute per key
WINDOW_SECONDS = 60.0
RESULT_MARK = "📝 Transcript"
REFERENCE = re.compile(r"bench-ref-(\d+)")
SMALL_RECORDING = "voice_consultation.ogg"
STOP_GRACE_SECONDS = 15.0
READY_TIMEOUT_SECONDS = 30.0
RESULTS_FILE = ROOT / "bench" / "results.md"


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


class IntronJobs:
    """Gives the n-th upload the n-th seeded processing time (the same sequence for every
    contender), tags its transcript with n so a chat's result can be traced back to the
    upload, and drops the uploaded bytes after noting their length."""

    def __init__(self, intron: FakeIntron, times: list[float]) -> None:
        self.times = times
        self.index: dict[str, int] = {}
        self.sizes: list[int] = []
        intron.processing_time_for = self._processing_time
        intron.transcript_for = self._transcript

    def _processing_time(self, upload: Upload) -> float:
        n = len(self.sizes)
        self.index[upload.file_id] = n
        self.sizes.append(len(upload.blob))
        upload.blob = b""  # 40 x 15 MB would otherwise stay in this process
        return self.times[n % len(self.times)]

    def _transcript(self, upload: Upload) -> str:
        return f"{DEFAULT_TRANSCRIPT} bench-ref-{self.index[upload.file_id]:04d}"


# -- scenarios and contenders -------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    jobs: int
    chats: int
    file_mb: float | None  # None: the small real recording from tests/fixtures


@dataclass(frozen=True)
class Contender:
    name: str
    module: str  # run as `python -m <module>`


CONTENDERS = {
    "engine": Contender("engine", "bot"),
    "naive": Contender("naive", "bench.naive_bot"),
}


@dataclass
class Measurement:
    scenario: Scenario
    contender: str
    jobs: int
    delivered: int = 0
    duplicates: int = 0
    latencies: list[float] = field(default_factory=list)
    status_calls: int = 0
    uploads: int = 0
    max_status_window: int = 0
    max_upload_window: int = 0
    jobs_per_second: float | None = None
    all_uploaded_after: float | None = None
    peak_rss_mb: float | None = None
    exit_code: int | None = None
    stop_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def exactly_one_each(self) -> bool:
        return self.delivered == self.jobs and self.duplicates == 0


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


class RssSampler:
    """Fallback where /proc is missing: psutil every 50 ms, keeping the maximum."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_mb: float | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if Path(f"/proc/{self.pid}/status").exists():
            return
        try:
            import psutil  # optional: only needed where /proc is missing
        except ImportError:
            return
        process = psutil.Process(self.pid)

        async def sample() -> None:
            with contextlib.suppress(psutil.Error):
                while True:
                    rss = process.memory_info().rss / (1024 * 1024)
                    self.peak_mb = max(self.peak_mb or 0.0, rss)
                    await asyncio.sleep(0.05)

        self._task = asyncio.create_task(sample())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


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
    min_processing: float
    max_processing: float
    run_timeout: float
    settle: float
    verbose: bool


def processing_times(settings: Settings, scenario: Scenario) -> list[float]:
    rng = random.Random(f"{settings.seed}/{scenario.name}")
    # Twice the jobs, so a contender that uploads a job twice still draws from the sequence.
    return [
        rng.uniform(settings.min_processing, settings.max_processing)
        for _ in range(2 * scenario.jobs)
    ]


async def wait_until_ready(
    telegram: FakeTelegram, proc: asyncio.subprocess.Process, log_path: Path
) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not telegram.calls("getUpdates"):
        if proc.returncode is not None:
            raise RuntimeError(f"contender exited with {proc.returncode}:\n{_log_tail(log_path)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"contender never polled Telegram:\n{_log_tail(log_path)}")
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # the engine starts its Application right after the first poll


async def wait_for_results(
    telegram: TimedTelegram,
    jobs: set[tuple[int, int]],
    proc: asyncio.subprocess.Process,
    deadline: float,
) -> None:
    while True:
        answered = {(a.chat_id, a.reply_to) for a in telegram.results()}
        if jobs <= answered or proc.returncode is not None or time.monotonic() > deadline:
            return
        await asyncio.sleep(0.05)


async def run_one(
    scenario: Scenario, contender: Contender, audio: bytes, settings: Settings
) -> Measurement:
    measurement = Measurement(scenario, contender.name, scenario.jobs)
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{scenario.name}-{contender.name}-"))
    log_path = workdir / "contender.log"
    telegram = TimedTelegram()
    intron = FakeIntron()
    tracker = IntronJobs(intron, processing_times(settings, scenario))
    proc: asyncio.subprocess.Process | None = None
    log_file: IO[bytes] | None = None
    sampler: RssSampler | None = None
    await telegram.start()
    await intron.start()
    try:
        env = settings_env(telegram, intron, workdir / "bot.sqlite3")
        log_file = _open_log(log_path)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            contender.module,
            env=env,
            cwd=workdir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
        )
        sampler = RssSampler(proc.pid)
        sampler.start()
        await wait_until_ready(telegram, proc, log_path)

        first_pushed = time.monotonic()
        jobs: set[tuple[int, int]] = set()
        for n in range(scenario.jobs):
            chat = 910_000 + n % scenario.chats
            sent = telegram.user_message(chat, voice=telegram.voice(audio))
            jobs.add((chat, sent["message_id"]))
        await wait_for_results(telegram, jobs, proc, first_pushed + settings.run_timeout)
        await asyncio.sleep(settings.settle)  # a duplicate answer would show up now

        measurement.peak_rss_mb = peak_rss_mb(proc.pid)
        await sampler.stop()
        if measurement.peak_rss_mb is None:
            measurement.peak_rss_mb = sampler.peak_mb
        if proc.returncode is not None:
            measurement.notes.append(f"exited early with {proc.returncode}")
        measurement.exit_code, measurement.stop_seconds = await stop_process(proc)
        measure(measurement, telegram, intron, tracker, jobs, first_pushed, len(audio))
        if not measurement.exactly_one_each or measurement.exit_code != 0 or settings.verbose:
            print(f"--- {contender.name} log tail ---\n{_log_tail(log_path)}", file=sys.stderr)
    finally:
        if sampler is not None:
            await sampler.stop()
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
    jobs: set[tuple[int, int]],
    first_pushed: float,
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
    for arrivals in by_job.values():
        first = min(arrivals, key=lambda a: a.at)
        ref = REFERENCE.search(first.text)
        if ref is None:
            m.notes.append(f"result without reference in chat {first.chat_id}")
            continue
        m.latencies.append(first.at - intron.uploads[int(ref.group(1))].done_at)
    if by_job:
        last = max(min(a.at for a in arrivals) for arrivals in by_job.values())
        m.jobs_per_second = m.delivered / (last - first_pushed)
    m.status_calls = len(intron.calls_to("status"))
    m.uploads = len(intron.uploads)
    if intron.uploads:
        m.all_uploaded_after = max(u.received_at for u in intron.uploads) - first_pushed
    m.max_status_window = intron.max_calls_in_window("status", WINDOW_SECONDS)
    m.max_upload_window = intron.max_calls_in_window("upload", WINDOW_SECONDS)
    if m.delivered < m.jobs:
        m.notes.append(f"{m.jobs - m.delivered} jobs got no result")
    if m.duplicates:
        m.notes.append(f"{m.duplicates} extra results")
    if m.uploads != m.jobs:
        m.notes.append(f"{m.uploads} uploads for {m.jobs} jobs")
    if any(size != file_size for size in tracker.sizes):
        m.notes.append("an upload did not carry the whole file")
    rejected = [c for c in intron.calls if c[2] == 429]
    if rejected:
        m.notes.append(f"{len(rejected)} calls answered 429")
    if m.exit_code != 0:
        m.notes.append(f"exit code {m.exit_code} after SIGTERM")
    if m.stop_seconds > 5:
        m.notes.append(f"took {m.stop_seconds:.1f}s to stop")


# -- reporting ----------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _budget(value: int, limit: int) -> str:
    return f"{value}" if value <= limit else f"{value} ⚠️ over"


def table(measurements: list[Measurement]) -> str:
    header = (
        "| scenario | contender | one result per job | added latency median (s) "
        "| added latency p95 (s) | status calls / job | max status / 60 s (limit 100) "
        "| max uploads / 60 s (limit 60) | all uploaded after (s) | jobs / s | peak RSS (MB) |"
    )
    rows = [header, "|" + "---|" * 11]
    for m in measurements:
        lat = m.latencies
        one_each = (
            f"yes ({m.delivered}/{m.jobs})"
            if m.exactly_one_each
            else f"NO ({m.delivered}/{m.jobs}, {m.duplicates} extra)"
        )
        rows.append(
            f"| {m.scenario.name} | {m.contender} | {one_each} "
            f"| {_seconds(statistics.median(lat) if lat else None)} "
            f"| {_seconds(percentile(lat, 0.95) if lat else None)} "
            f"| {m.status_calls / m.jobs:.1f} "
            f"| {_budget(m.max_status_window, STATUS_LIMIT)} "
            f"| {_budget(m.max_upload_window, UPLOAD_LIMIT)} "
            f"| {_seconds(m.all_uploaded_after)} "
            f"| {_seconds(m.jobs_per_second)} "
            f"| {'–' if m.peak_rss_mb is None else f'{m.peak_rss_mb:.0f}'} |"
        )
    return "\n".join(rows)


def report(measurements: list[Measurement], settings: Settings, wall: float) -> str:
    notes = [
        f"- {m.scenario.name} / {m.contender}: {'; '.join(m.notes)}"
        for m in measurements
        if m.notes
    ]
    lines = [
        "# Benchmark results",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, seed {settings.seed}, Intron processing time uniform "
        f"{settings.min_processing:g}–{settings.max_processing:g} s per job, "
        f"{wall:.0f} s in all.",
        "",
        table(measurements),
    ]
    if notes:
        lines += ["", "Notes:", "", *notes]
    return "\n".join(lines) + "\n"


# -- command line -------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Benchmark the bot's job engine against a naive 5 s poller, on loopback fakes.",
    )
    parser.add_argument(
        "--scenarios",
        nargs="+",
        default=["inflight", "burst", "memory"],
        choices=["inflight", "burst", "memory"],
        help="which scenarios to run (default: all three)",
    )
    parser.add_argument(
        "--contenders",
        nargs="+",
        default=["engine", "naive"],
        choices=sorted(CONTENDERS),
        help="which bots to measure (default: both)",
    )
    parser.add_argument("--inflight-jobs", type=int, default=5, help="voice notes (5 chats)")
    parser.add_argument("--burst-jobs", type=int, default=40)
    parser.add_argument("--burst-chats", type=int, default=10)
    parser.add_argument("--memory-jobs", type=int, default=40)
    parser.add_argument("--memory-chats", type=int, default=10)
    parser.add_argument("--memory-mb", type=float, default=15.0, help="size of each big file")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--min-processing", type=float, default=2.0, help="seconds at Intron")
    parser.add_argument("--max-processing", type=float, default=6.0, help="seconds at Intron")
    parser.add_argument(
        "--run-timeout", type=float, default=240.0, help="give up on a run after this long"
    )
    parser.add_argument(
        "--settle", type=float, default=1.0, help="wait after the last result for duplicates"
    )
    parser.add_argument("--output", type=Path, default=RESULTS_FILE, help="Markdown file")
    parser.add_argument("--verbose", action="store_true", help="print each contender's log tail")
    return parser.parse_args(argv)


def scenarios_from(args: argparse.Namespace) -> list[Scenario]:
    catalog = {
        "inflight": Scenario(
            f"inflight-{args.inflight_jobs}", args.inflight_jobs, args.inflight_jobs, None
        ),
        "burst": Scenario(f"burst-{args.burst_jobs}", args.burst_jobs, args.burst_chats, None),
        "memory": Scenario(
            f"memory-{args.memory_jobs}x{args.memory_mb:g}MB",
            args.memory_jobs,
            args.memory_chats,
            args.memory_mb,
        ),
    }
    return [catalog[key] for key in dict.fromkeys(args.scenarios)]


async def amain(args: argparse.Namespace) -> list[Measurement]:
    settings = Settings(
        seed=args.seed,
        min_processing=args.min_processing,
        max_processing=args.max_processing,
        run_timeout=args.run_timeout,
        settle=args.settle,
        verbose=args.verbose,
    )
    small = fixture_bytes(SMALL_RECORDING)
    big: bytes | None = None
    measurements: list[Measurement] = []
    started = time.monotonic()
    for scenario in scenarios_from(args):
        if scenario.file_mb is None:
            audio = small
        else:
            if big is None:  # generated once; the same object is served for every file
                big = random.Random(settings.seed).randbytes(int(scenario.file_mb * 1024 * 1024))
            audio = big
        for name in dict.fromkeys(args.contenders):
            print(f"{scenario.name}: running {name}…", file=sys.stderr, flush=True)
            m = await run_one(scenario, CONTENDERS[name], audio, settings)
            print(f"{scenario.name}: {name} done. {'; '.join(m.notes)}", file=sys.stderr)
            measurements.append(m)
    text = report(measurements, settings, time.monotonic() - started)
    print(text)
    args.output.write_text(text)
    print(f"written to {args.output}", file=sys.stderr)
    return measurements


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    measurements = asyncio.run(amain(args))
    return 0 if all(m.exactly_one_each for m in measurements) else 1


if __name__ == "__main__":
    sys.exit(main())

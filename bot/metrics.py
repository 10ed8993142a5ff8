"""What the bot counts for Prometheus, in one registry its owner passes in, and the `/metrics`
route that shows it.

Each layer reports through this object (the Intron client its calls, the pipeline its stages,
the Telegram rate limiter and getUpdates the errors Telegram answered); values that live in the
database are read when a scrape asks for them, not kept in step by every writer. Labels carry
bounded vocabularies only (states, stages, endpoints, outcomes, Bot API methods): never a chat
id, a user or any text.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.outages import OutageLog, Outages
from storage.models import Job, JobState

log = logging.getLogger(__name__)

# Seconds. Added latency is under a second when all is well and minutes when the budget binds.
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600)
STAGE_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800)
TURNAROUND_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)
CALL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)

METRICS_PATH = "/metrics"

JobCounter = Callable[[], Awaitable[Mapping[str, int]]]
BacklogCounter = Callable[[], Awaitable[int]]

# How Telegram's errors are counted; most specific first (TimedOut and BadRequest are
# NetworkErrors).
_TELEGRAM_ERROR_KINDS: tuple[tuple[type[TelegramError], str], ...] = (
    (RetryAfter, "flood_limit"),
    (ChatMigrated, "chat_migrated"),
    (Forbidden, "forbidden"),
    (InvalidToken, "unauthorized"),
    (Conflict, "conflict"),
    (TimedOut, "timed_out"),
    (BadRequest, "bad_request"),
    (NetworkError, "network"),
)


class BotMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._jobs = Gauge("bot_jobs", "Unfinished jobs by state", ["state"], registry=registry)
        self._database_up = Gauge(
            "bot_database_up",
            "1 when the last scrape could read the database, else 0",
            registry=registry,
        )
        self._received = Counter(
            "bot_recordings_received",
            "Recordings accepted as jobs, by media kind",
            ["media"],
            registry=registry,
        )
        self._delivered = Counter(
            "bot_recordings_delivered", "Jobs whose result reached the chat", registry=registry
        )
        self._failed = Counter(
            "bot_recordings_failed", "Jobs that ended in a failure", registry=registry
        )
        self._resent = Counter(
            "bot_results_resent", "Stored results sent again from /history", registry=registry
        )
        self._stage = Histogram(
            "bot_stage_duration_seconds",
            "Time a stage took each time it completed: download (Telegram to disk), upload "
            "(to Intron, budget waits included), intron (upload accepted to transcript seen)",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=registry,
        )
        self._added_latency = Histogram(
            "bot_added_latency_seconds",
            "From the poll that saw the transcript done to Telegram accepting the last part "
            "of the reply",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._turnaround = Histogram(
            "bot_turnaround_seconds",
            "From receiving the recording to delivering its result",
            buckets=TURNAROUND_BUCKETS,
            registry=registry,
        )
        self._intron_calls = Counter(
            "bot_intron_calls",
            "Intron API calls by endpoint and outcome (ok, 4xx, 5xx, 429, timeout, network, "
            "malformed)",
            ["endpoint", "outcome"],
            registry=registry,
        )
        self._intron_duration = Histogram(
            "bot_intron_call_duration_seconds",
            "Time one Intron API call took",
            ["endpoint"],
            buckets=CALL_BUCKETS,
            registry=registry,
        )
        self._budget_used = Gauge(
            "bot_intron_budget_used",
            "Intron calls spent in the current rate window, per endpoint",
            ["endpoint"],
            registry=registry,
        )
        self._budget_limit = Gauge(
            "bot_intron_budget_limit",
            "Intron calls allowed per rate window, per endpoint",
            ["endpoint"],
            registry=registry,
        )
        self._telegram_errors = Counter(
            "bot_telegram_errors",
            "Errors the Bot API answered, by method and kind",
            ["method", "kind"],
            registry=registry,
        )
        self._inbox_backlog = Gauge(
            "bot_inbox_backlog",
            "Updates stored in the durable inbox and not yet handled",
            registry=registry,
        )
        self._job_counter: JobCounter | None = None
        self._backlog_counter: BacklogCounter | None = None
        self._database = Outages().database

    def tell_outages_to(self, database: OutageLog) -> None:
        """The process's database outage log, told when a scrape cannot read the database."""
        self._database = database

    @classmethod
    def unregistered(cls) -> BotMetrics:
        """Metrics nobody scrapes: for a component built without its owner's registry."""
        return cls(CollectorRegistry())

    # -- the engine -------------------------------------------------------------------------

    def recording_received(self, media: str) -> None:
        self._received.labels(media=media).inc()

    def stage_finished(self, stage: str, seconds: float) -> None:
        self._stage.labels(stage=stage).observe(max(0.0, seconds))

    def job_finished(self, job: Job, now: float) -> None:
        """A job reached a final state: count it, and time it when the chat got a result."""
        if job.state != JobState.DELIVERED:
            self._failed.inc()
            return
        self._delivered.inc()
        self._turnaround.observe(max(0.0, now - job.created_at.timestamp()))
        if job.transcribed_at is not None:
            self._added_latency.observe(max(0.0, now - job.transcribed_at))

    def result_resent(self) -> None:
        self._resent.inc()

    # -- Intron -----------------------------------------------------------------------------

    def intron_call(self, endpoint: str, outcome: str, seconds: float) -> None:
        self._intron_calls.labels(endpoint=endpoint, outcome=outcome).inc()
        self._intron_duration.labels(endpoint=endpoint).observe(max(0.0, seconds))

    def watch_budget(self, used: Callable[[str], int], limits: Mapping[str, int]) -> None:
        """The budget's spend is read when scraped (it is in memory, so that is cheap)."""
        for endpoint, limit in limits.items():
            self._budget_limit.labels(endpoint=endpoint).set(limit)
            self._budget_used.labels(endpoint=endpoint).set_function(
                lambda endpoint=endpoint: used(endpoint)
            )

    # -- Telegram ---------------------------------------------------------------------------

    def telegram_error(self, method: str, error: TelegramError) -> None:
        """One Bot API call answered with an error (each retry is a call of its own)."""
        kind = next((k for cls, k in _TELEGRAM_ERROR_KINDS if isinstance(error, cls)), "other")
        self._telegram_errors.labels(method=method, kind=kind).inc()

    # -- read from the database when scraped -------------------------------------------------

    def watch_jobs(self, count: JobCounter) -> None:
        """`count` returns the number of jobs in each unfinished state (one indexed query)."""
        self._job_counter = count

    def watch_inbox_backlog(self, count: BacklogCounter) -> None:
        """`count` returns how many updates wait in the durable inbox, unhandled."""
        self._backlog_counter = count

    async def refresh(self) -> None:
        """Read what lives in the database; on failure the scrape still answers, with
        `bot_database_up` 0 telling why the gauges are stale."""
        try:
            if self._job_counter is not None:
                for state, n in (await self._job_counter()).items():
                    self._jobs.labels(state=state).set(n)
            if self._backlog_counter is not None:
                self._inbox_backlog.set(await self._backlog_counter())
        except Exception as exc:
            self._database.failed(exc, "metrics")
            self._database_up.set(0)
        else:
            self._database.worked()
            self._database_up.set(1)

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)


def metrics_route(metrics: BotMetrics) -> Route:
    """GET /metrics, for the one web server's routes (webhook mode: on PORT; polling mode: on
    METRICS_PORT)."""

    async def endpoint(request: Request) -> Response:
        await metrics.refresh()
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return Route(METRICS_PATH, endpoint, methods=["GET"])

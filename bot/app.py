"""Building the bot and running it until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry
from telegram import Update
from telegram.ext import Application, ApplicationBuilder

from bot.chat.consent import ConsentTerms, release_agreed
from bot.chat.result_menu import ChatResultExtras
from bot.config import Config
from bot.engine.budget import RateBudget
from bot.engine.pipeline import JobPipeline, PipelineConfig
from bot.engine.poll_pacer import PollPacer
from bot.engine.reencryption import Reencryption
from bot.engine.scheduler import JobScheduler
from bot.engine.sync_upload import SyncUpload
from bot.i18n import ENGLISH_CODE, Locales
from bot.intron import STATUS, SYNC_UPLOAD, UPLOAD, IntronClient
from bot.logs import quiet_outage_noise
from bot.metrics import BotMetrics
from bot.ops.encryption import announce_key_file, open_key_ring
from bot.ops.startup import reach_database, reach_telegram
from bot.ops.status import active_job_counts
from bot.outages import Outages
from bot.telegram_io.dispatcher import InboxDispatcher
from bot.telegram_io.files import TelegramFileFetcher
from bot.telegram_io.inbox import UpdateInbox, keep_handled_seconds
from bot.telegram_io.rate_limit import ChatRateLimiter
from bot.telegram_io.replies import ChatReplier
from bot.web.receiving import (
    DRAIN_SECONDS,
    receiving_updates,
    register_webhook,
    start_web_server,
    web_server,
)
from bot.web.server import WebServer
from handlers import publish_commands, register_handlers
from handlers.services import Services
from storage.db import close_database, is_postgres
from storage.encrypted import KeyRing

log = logging.getLogger(__name__)

# Handlers only store a job and send one message, so many chats can be served at once; the
# slow work happens in the scheduler's tasks.
CONCURRENT_UPDATES = 32
SHUTDOWN_GRACE_SECONDS = 5.0


def build_application(config: Config, metrics: BotMetrics, outages: Outages) -> Application:
    quiet_outage_noise()  # also where logging was set up by someone else (tests, embedding)
    limiter = ChatRateLimiter(
        metrics,
        max_retries=3,
        per_second=config.telegram_per_second,
        group_per_minute=config.telegram_group_per_minute,
        window_seconds=config.telegram_group_window_seconds,
        # Several instances on one PostgreSQL database keep Telegram's limits together.
        shared=is_postgres(config.database_url),
        outages=outages,
    )
    app = (
        ApplicationBuilder()
        .token(config.telegram_bot_token.get_secret_value())
        .base_url(config.telegram_base_url)
        .base_file_url(config.telegram_base_file_url)
        .local_mode(config.telegram_local_mode)
        .rate_limiter(limiter)
        # Updates come from the inbox (web/receiving.py), not the application queue.
        .updater(None)
        .connection_pool_size(CONCURRENT_UPDATES + 8)
        .build()
    )
    register_handlers(app)
    return app


@dataclass(frozen=True)
class Parts:
    """The long-lived parts of a running bot, built before any of them starts."""

    app: Application
    scheduler: JobScheduler
    pacer: PollPacer
    dispatcher: InboxDispatcher
    server: WebServer | None
    metrics: BotMetrics
    locales: Locales
    outages: Outages
    reencryption: Reencryption


async def serve(config: Config, stop: asyncio.Event, started: asyncio.Event | None = None) -> None:
    """Run the bot until `stop` is set, then shut down leaving unfinished jobs resumable.
    `started` is set once updates are being received. Each part is entered on one stack and
    stops once, in reverse order.

    A database or Telegram that cannot be reached, or refuses, raises StartupFailed."""
    async with contextlib.AsyncExitStack() as stack:
        if not await reach_database(config, stop):
            return
        stack.push_async_callback(close_database)
        # Before anything reads a stored text: a key that cannot open them ends start-up here.
        keys = await open_key_ring(config)
        parts = await assemble(config, stack, keys.ring)
        # Listening comes first: a port that cannot be used is the one line start-up prints,
        # and /metrics answers while Telegram is still being waited for. Webhook requests that
        # come meanwhile are stored, and handled once the dispatcher starts.
        if parts.server is not None:
            await start_web_server(parts.server, config)
            stack.push_async_callback(parts.server.close)
        # Start-up's waits for Telegram say what is wrong in their own one line.
        parts.outages.hold_telegram()
        if not await reach_telegram(parts.app, config, stop):
            return
        if config.webhook_url is not None and not await register_webhook(
            parts.app.bot, config, stop
        ):
            return
        parts.outages.tell_telegram()
        await stack.enter_async_context(parts.app)
        await publish_commands(parts.app.bot, parts.locales)
        if config.allowed_chat_ids is None:
            log.warning("ALLOWED_CHAT_IDS is not set: any Telegram chat can use this bot")
        await stack.enter_async_context(_started(parts.app))
        await stack.enter_async_context(_working(parts))
        if parts.server is not None:
            # Stopping: new requests get 503 first, those in flight finish; then the handlers
            # and job stages in flight get one grace period together.
            stack.push_async_callback(parts.server.drain, DRAIN_SECONDS)
        mode = await stack.enter_async_context(
            receiving_updates(
                config,
                parts.app,
                parts.dispatcher,
                server=parts.server,
                metrics=parts.metrics,
                outages=parts.outages,
            )
        )
        log.info("bot started (%s)", mode)
        announce_key_file(keys)
        if started is not None:
            started.set()
        await stop.wait()
        log.info("stopping: no new updates; unfinished jobs stay resumable")


@contextlib.asynccontextmanager
async def _started(app: Application) -> AsyncIterator[None]:
    await app.start()
    try:
        yield
    finally:
        await app.stop()


@contextlib.asynccontextmanager
async def _working(parts: Parts) -> AsyncIterator[None]:
    """The scheduler, the poll pacer and the inbox dispatcher, stopped together so that the
    stages and handlers in flight share one grace period."""
    try:
        await parts.scheduler.start()
        parts.pacer.start(parts.scheduler)
        await parts.dispatcher.start()  # updates stored before a crash or stop come first
        parts.reencryption.start()
        yield
    finally:
        await asyncio.gather(
            parts.dispatcher.stop(grace=SHUTDOWN_GRACE_SECONDS),
            parts.scheduler.stop(grace=SHUTDOWN_GRACE_SECONDS),
            parts.pacer.stop(),
            parts.reencryption.stop(),
        )


def _handler_of(app: Application) -> Callable[[dict[str, Any]], Awaitable[None]]:
    """The dispatcher's bridge into python-telegram-bot: a stored update, handled."""

    async def handle(payload: dict[str, Any]) -> None:
        await app.process_update(Update.de_json(payload, app.bot))

    return handle


async def assemble(config: Config, stack: contextlib.AsyncExitStack, ring: KeyRing) -> Parts:
    """Build every part; the clients' connections are closed when `stack` ends. `ring` is the
    database's key ring, installed already: the background re-encryption uses it."""
    metrics = BotMetrics(CollectorRegistry())
    # One outage log per dependency for the whole process, told by every part using it.
    outages = Outages()
    metrics.tell_outages_to(outages.database)
    # The committed catalogues, compiled here: a broken one stops start-up, not a reply.
    locales = Locales.load()
    app = build_application(config, metrics, outages)
    intron = IntronClient(
        config.intron_base_url,
        config.intron_api_key.get_secret_value(),
        timeout=httpx.Timeout(config.intron_timeout_seconds, connect=10.0),
        metrics=metrics,
        outages=outages,
    )
    stack.push_async_callback(intron.aclose)
    owner = config.worker_id or socket.gethostname()
    fetcher = TelegramFileFetcher(
        app.bot,
        local_mode=config.telegram_local_mode,
        temp_dir=Path(tempfile.gettempdir()) / f"intron-bot-{owner}",
        outages=outages,
    )
    stack.push_async_callback(fetcher.aclose)
    fetcher.clear_leftovers()
    postgres = is_postgres(config.database_url)
    budget = RateBudget(
        {
            UPLOAD: config.intron_upload_per_minute,
            STATUS: config.intron_status_per_minute,
            SYNC_UPLOAD: max(1, config.intron_sync_upload_per_minute),
        },
        window=config.intron_rate_window_seconds,
        shared=postgres,
    )
    await budget.load()
    pacer = PollPacer(budget, window=config.intron_rate_window_seconds, outages=outages)
    await pacer.load()
    replier = ChatReplier(app.bot, timeout=config.telegram_timeout_seconds)
    pipeline = JobPipeline(
        intron=intron,
        budget=budget,
        fetcher=fetcher,
        replier=replier,
        pacer=pacer,
        sync_upload=SyncUpload(intron, budget)
        if config.intron_sync_upload_per_minute > 0
        else None,
        config=PipelineConfig(
            config.max_download_bytes,
            config.job_timeout_seconds,
            config.max_concurrent_transfers,
            delivery_give_up_seconds=config.delivery_give_up_seconds,
            delivery_retry_max_seconds=config.delivery_retry_max_seconds,
            templates=config.template_names,
        ),
        clock=time.time,
        locales=locales,
        metrics=metrics,
        extras=ChatResultExtras(),
    )
    scheduler = JobScheduler(
        pipeline,
        owner=owner,
        retention_days=config.retention_days,
        skip_locked=postgres,
        transfer_slots=config.max_concurrent_transfers,
        outages=outages,
    )
    consent = ConsentTerms.of(
        required=config.consent_required,
        retention_days=config.retention_days,
        contact=config.operator_contact,
        english=locales.translator(ENGLISH_CODE),
    )
    app.bot_data["services"] = Services(
        config=config,
        scheduler=scheduler,
        replier=replier,
        budget=budget,
        metrics=metrics,
        locales=locales,
        consent=consent,
        outages=outages,
    )
    # Before the scheduler starts: what waits for no consent now is due with the rest.
    await release_agreed(consent)
    metrics.watch_budget(budget.used, budget.limits)
    metrics.watch_jobs(active_job_counts)
    inbox = UpdateInbox(owner=owner)
    dispatcher = InboxDispatcher(
        inbox,
        _handler_of(app),
        workers=CONCURRENT_UPDATES,
        keep_handled_seconds=keep_handled_seconds(config.retention_days),
        outages=outages,
    )
    metrics.watch_inbox_backlog(inbox.backlog)
    server = web_server(
        config,
        bot=app.bot,
        dispatcher=dispatcher,
        inbox=inbox,
        scheduler=scheduler,
        metrics=metrics,
        outages=outages,
    )
    reencryption = Reencryption(ring, inbox, database=outages.database)
    return Parts(app, scheduler, pacer, dispatcher, server, metrics, locales, outages, reencryption)

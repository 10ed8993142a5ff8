"""How updates come in: long polling, or Telegram's webhook on the bot's web server.

Either way an update goes into the inbox before Telegram is told it arrived; the dispatcher
takes it from there. The one web server carries the webhook, /healthz and /metrics on PORT in
webhook mode, and /metrics alone on METRICS_PORT in polling mode (when set).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.routing import Route
from telegram import Bot, Update
from telegram.ext import Application

from bot.config import HEALTH_PATH, Config
from bot.engine.scheduler import JobScheduler
from bot.metrics import METRICS_PATH, BotMetrics, metrics_route
from bot.ops.startup import Problem, StartupFailed, describe_telegram_error, with_retries
from bot.outages import Outages
from bot.telegram_io.dispatcher import InboxDispatcher
from bot.telegram_io.inbox import UpdateInbox
from bot.telegram_io.polling import lead_polling, start_polling
from bot.telegram_io.webhook import TelegramWebhook
from bot.web.health import HealthCheck
from bot.web.server import WebServer
from storage.db import is_postgres

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
POLL_TIMEOUT_SECONDS = 10
LISTEN_HOST = "0.0.0.0"  # the hosting convention: the platform routes $PORT to the process
DRAIN_SECONDS = 5.0


def web_server(
    config: Config,
    *,
    bot: Bot,
    dispatcher: InboxDispatcher,
    inbox: UpdateInbox,
    scheduler: JobScheduler,
    metrics: BotMetrics,
    outages: Outages,
) -> WebServer | None:
    """The web server this mode needs; None when polling without METRICS_PORT."""
    if config.webhook_url is None:
        if config.metrics_port is None:
            return None
        return WebServer(
            [metrics_route(metrics)], host=config.metrics_host, port=config.metrics_port
        )
    if config.metrics_port is not None:
        log.warning("METRICS_PORT is not used in webhook mode: %s is served on PORT", METRICS_PATH)
    assert config.webhook_secret is not None  # Config refuses a webhook without one
    webhook = TelegramWebhook(
        secret=config.webhook_secret.get_secret_value(),
        bot=bot,
        receive=dispatcher.receive,
        database=outages.database,
    )
    health = HealthCheck(
        probe_database=inbox.probe, last_scheduler_tick=lambda: scheduler.last_tick_at
    )
    routes = [
        Route(config.webhook_path, webhook.endpoint, methods=["POST"]),
        Route(HEALTH_PATH, health.endpoint, methods=["GET"]),
        metrics_route(metrics),
    ]
    return WebServer(routes, host=LISTEN_HOST, port=config.port)


async def start_web_server(server: WebServer, config: Config) -> None:
    """Listen, or stop start-up with one line naming the address and its settings."""
    try:
        await server.start()
    except OSError as exc:
        if config.webhook_url is None:
            where = f"{config.metrics_host}:{config.metrics_port} (METRICS_HOST, METRICS_PORT)"
        else:
            where = f"{LISTEN_HOST}:{config.port} (PORT)"
        line = f"cannot listen on {where}: {exc.strerror or exc}"
        raise StartupFailed(Problem(line, transient=False)) from None


async def register_webhook(bot: Bot, config: Config, stop: asyncio.Event) -> bool:
    """Webhook mode: tell Telegram where to deliver, with the secret it must send. Network
    trouble is retried like getMe's; a URL Telegram refuses stops start-up in one line. False
    if `stop` came while waiting."""
    url, secret = config.webhook_url, config.webhook_secret
    assert url is not None and secret is not None

    async def register() -> None:
        await bot.set_webhook(
            url,
            secret_token=secret.get_secret_value(),
            allowed_updates=ALLOWED_UPDATES,
            drop_pending_updates=False,
        )

    return await with_retries(
        register,
        lambda error: describe_telegram_error(
            error, config.telegram_base_url, refused=f"WEBHOOK_URL={url}"
        ),
        patience=config.startup_retry_seconds,
        stop=stop,
    )


@contextlib.asynccontextmanager
async def receiving_updates(
    config: Config,
    app: Application,
    dispatcher: InboxDispatcher,
    *,
    server: WebServer | None,
    metrics: BotMetrics,
    outages: Outages,
) -> AsyncIterator[str]:
    """Receive until the block ends; yields how, for the log. In webhook mode the web server
    is listening and the webhook registered already (start-up did both)."""
    if config.webhook_url is not None:
        assert server is not None
        paths = ", ".join((config.webhook_path, HEALTH_PATH, METRICS_PATH))
        yield f"webhook; listening on {LISTEN_HOST}:{server.port} for {paths}"
        # The webhook stays registered: Telegram holds new updates until the next start.
        return
    if is_postgres(config.database_url):
        async with _polling_when_leading(config, app, dispatcher, metrics=metrics, outages=outages):
            yield _polling_mode(config, server, "long polling by one instance at a time")
        return
    updater = await start_polling(
        app.bot,
        dispatcher,
        metrics=metrics,
        outages=outages,
        poll_seconds=POLL_TIMEOUT_SECONDS,
        allowed_updates=ALLOWED_UPDATES,
    )
    try:
        yield _polling_mode(config, server, "long polling")
    finally:
        await updater.stop()  # confirms what was fetched: all of it is in the inbox


@contextlib.asynccontextmanager
async def _polling_when_leading(
    config: Config,
    app: Application,
    dispatcher: InboxDispatcher,
    *,
    metrics: BotMetrics,
    outages: Outages,
) -> AsyncIterator[None]:
    """PostgreSQL, where several instances may share the database: poll only while holding
    the polling lock (telegram_io/polling.py)."""
    leading = asyncio.create_task(
        lead_polling(
            config.database_url,
            app.bot,
            dispatcher,
            metrics=metrics,
            outages=outages,
            poll_seconds=POLL_TIMEOUT_SECONDS,
            allowed_updates=ALLOWED_UPDATES,
        ),
        name="polling-lock",
    )
    try:
        yield
    finally:
        leading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await leading


def _polling_mode(config: Config, server: WebServer | None, how: str) -> str:
    if server is None:
        return how
    return f"{how}; metrics on http://{config.metrics_host}:{server.port}{METRICS_PATH}"

"""How updates come in: long polling, or Telegram's webhook on our own web server.

Either way an update goes into the inbox before Telegram is told it arrived; the dispatcher
takes it from there.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.routing import Route
from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application

from bot.config import HEALTH_PATH, Config
from bot.engine.scheduler import JobScheduler
from bot.telegram_io.dispatcher import InboxDispatcher
from bot.telegram_io.inbox import UpdateInbox
from bot.telegram_io.polling import start_polling
from bot.telegram_io.webhook import TelegramWebhook
from bot.web.health import HealthCheck
from bot.web.server import WebServer

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
POLL_TIMEOUT_SECONDS = 10
LISTEN_HOST = "0.0.0.0"  # the hosting convention: the platform routes $PORT to the process
DRAIN_SECONDS = 5.0


class StartupRefused(Exception):
    """Webhook mode cannot start (port taken, URL refused by Telegram): one line for the
    operator, no traceback."""


@contextlib.asynccontextmanager
async def receiving_updates(
    config: Config,
    app: Application,
    dispatcher: InboxDispatcher,
    *,
    inbox: UpdateInbox,
    scheduler: JobScheduler,
) -> AsyncIterator[str]:
    """Receive until the block ends; yields the mode's name."""
    if config.webhook_url is None:
        updater = await start_polling(
            app.bot,
            dispatcher,
            poll_seconds=POLL_TIMEOUT_SECONDS,
            allowed_updates=ALLOWED_UPDATES,
        )
        try:
            yield "long polling"
        finally:
            await updater.stop()  # confirms what was fetched: all of it is in the inbox
        return

    assert config.webhook_secret is not None  # Config refuses a webhook without one
    secret = config.webhook_secret.get_secret_value()
    webhook = TelegramWebhook(secret=secret, bot=app.bot, receive=dispatcher.receive)
    health = HealthCheck(
        probe_database=inbox.probe, last_scheduler_tick=lambda: scheduler.last_tick_at
    )
    server = WebServer(
        [
            Route(config.webhook_path, webhook.endpoint, methods=["POST"]),
            Route(HEALTH_PATH, health.endpoint, methods=["GET"]),
        ],
        host=LISTEN_HOST,
        port=config.port,
    )
    try:
        await server.start()
    except OSError as exc:
        raise StartupRefused(f"cannot listen on PORT {config.port}: {exc.strerror}") from None
    try:
        try:
            await app.bot.set_webhook(
                config.webhook_url,
                secret_token=secret,
                allowed_updates=ALLOWED_UPDATES,
                drop_pending_updates=False,
            )
        except TelegramError as exc:
            raise StartupRefused(f"Telegram refused WEBHOOK_URL: {exc.message}") from None
        yield "webhook"
    finally:
        # The webhook stays registered: Telegram holds new updates until the next start.
        await server.stop(grace=DRAIN_SECONDS)

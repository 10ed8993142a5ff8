"""The long-lived objects handlers use, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from bot.engine.scheduler import JobScheduler
from bot.settings import Settings
from bot.telegram_io.replies import ChatReplier


@dataclass(frozen=True)
class Services:
    settings: Settings
    scheduler: JobScheduler
    replier: ChatReplier

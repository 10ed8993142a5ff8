"""The long-lived objects handlers use, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from bot.replies import ChatReplier
from bot.scheduler import JobScheduler
from bot.settings import Settings


@dataclass(frozen=True)
class Services:
    settings: Settings
    scheduler: JobScheduler
    replier: ChatReplier

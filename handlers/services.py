"""The long-lived objects handlers use, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from bot.chat.consent import ConsentTerms
from bot.config import Config
from bot.engine.budget import RateBudget
from bot.engine.scheduler import JobScheduler
from bot.i18n import Locales
from bot.metrics import BotMetrics
from bot.outages import Outages
from bot.telegram_io.replies import ChatReplier


@dataclass(frozen=True)
class Services:
    config: Config
    scheduler: JobScheduler
    replier: ChatReplier
    budget: RateBudget
    metrics: BotMetrics
    locales: Locales
    consent: ConsentTerms
    outages: Outages

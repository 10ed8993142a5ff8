"""Per-chat daily audio allowances: what one chat may send to Intron on the operator's bill.

A chat's day runs from midnight UTC. A recording is admitted while the audio minutes that chat's
recordings already used or hold today, plus this one's length, stay within its allowance; jobs
still in flight count with the length Telegram reported, so a burst cannot slip past. Links,
whose length is unknown, are admitted while minutes remain and count by Intron's processed
seconds. Copies answered from an earlier result cost nothing and are never refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.engine import job_store
from bot.telegram_io.migration import chat_family
from storage.models import ChatAllowance


@dataclass(frozen=True)
class DailyUse:
    allowed_minutes: float | None  # None: no limit
    used_seconds: float
    renews_at: datetime

    @property
    def left_minutes(self) -> float | None:
        if self.allowed_minutes is None:
            return None
        return max(0.0, self.allowed_minutes - self.used_seconds / 60)


@dataclass(frozen=True)
class OverAllowance:
    """A recording refused: the chat's minutes for today would run out."""

    use: DailyUse


def day_started(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


async def allowed_minutes(chat_id: int, default: float | None) -> float | None:
    """The chat's allowance: one an operator gave it, else the configured one."""
    family = await chat_family(chat_id)
    given = await ChatAllowance.filter(chat_id__in=family).order_by("-updated_at").first()
    return given.daily_minutes if given is not None else default


async def set_allowance(chat_id: int, minutes: float | None) -> None:
    """An operator's allowance for one chat; None goes back to the configured one."""
    if minutes is None:
        await ChatAllowance.filter(chat_id=chat_id).delete()
        return
    await ChatAllowance.update_or_create(defaults={"daily_minutes": minutes}, chat_id=chat_id)


async def daily_use(
    chat_id: int, default: float | None, *, now: datetime | None = None
) -> DailyUse:
    moment = now or datetime.now(UTC)
    since = day_started(moment)
    used = await job_store.audio_seconds_since(await chat_family(chat_id), since)
    return DailyUse(await allowed_minutes(chat_id, default), used, since + timedelta(days=1))


async def admits(chat_id: int, duration: int | None, default: float | None) -> OverAllowance | None:
    """None when a recording of `duration` seconds (None: a link) fits today's allowance."""
    allowed = await allowed_minutes(chat_id, default)
    if allowed is None:
        return None  # no limit: nothing to add up
    use = await daily_use(chat_id, allowed)
    left = use.left_minutes or 0.0
    if left <= 0 or (duration or 0) / 60 > left:
        return OverAllowance(use)
    return None

"""/status for the operators (ADMIN_USER_IDS), in a private chat: the bot's state in a glance.
The report is in English (operators only); the refusals anyone may see are translated."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from telegram import Update

from bot.engine.allowance import DailyUse, daily_use, set_allowance
from bot.i18n import N_
from bot.ops.status import StatusReport, collect_status
from handlers.common import Context, chat_translator, is_group, services

NOT_AN_OPERATOR = N_("⛔ {command} is for the bot's operators.")
PRIVATE_ONLY = N_("Ask me for {command} in a private chat.")
ALLOWANCE_HOW = (
    "Usage: /allowance <chat id> <minutes a day>, or /allowance <chat id> default "
    "(back to CHAT_DAILY_AUDIO_MINUTES)."
)


def _seconds(value: float) -> str:
    if value < 1:
        return f"{value:.2f} s"
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def _status_text(report: StatusReport) -> str:
    if report.median_added_latency is None:
        latency = "no results delivered in the last hour"
    else:
        median = _seconds(report.median_added_latency)
        count = report.latency_samples
        results = f"{count} result" + ("" if count == 1 else "s")
        latency = f"median {median} over {results} in the last hour"
    budget = ", ".join(f"{b.endpoint} {b.used}/{b.limit}" for b in report.budget)
    busiest = ", ".join(f"{chat} {seconds / 60:.1f} min" for chat, seconds in report.busiest_today)
    return (
        "📊 Bot status\n\n"
        f"⏳ Waiting: {report.waiting}\n"
        f"⏸ Held for consent: {report.held}\n"
        f"🎙 At Intron: {report.at_intron}\n"
        f"📨 Sending results: {report.replying}\n"
        f"❌ Failed in the last 24 h: {report.failed_last_day} "
        f"(✅ {report.delivered_last_day} delivered)\n"
        f"⚡ Added latency: {latency}\n"
        f"📉 Intron calls in the current rate window: {budget}\n"
        f"🏷 Most audio today (UTC): {busiest or 'none yet'}"
    )


async def _operator_in_private(update: Update, context: Context, command: str) -> bool:
    """Operators' commands answer only operators, and only in a private chat."""
    message, user = update.effective_message, update.effective_user
    if message is None:
        return False
    if user is None or user.id not in services(context).config.admin_user_ids:
        tr = await chat_translator(update, context)
        await message.reply_text(tr.gettext(NOT_AN_OPERATOR, command=command), do_quote=True)
        return False
    if is_group(message.chat):
        tr = await chat_translator(update, context)
        await message.reply_text(tr.gettext(PRIVATE_ONLY, command=command), do_quote=True)
        return False
    return True


async def on_status(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is None or not await _operator_in_private(update, context, "/status"):
        return
    svc = services(context)
    report = await collect_status(
        budget_used=svc.budget.used, limits=svc.budget.limits, now=datetime.now(UTC)
    )
    await message.reply_text(_status_text(report))


async def on_allowance(update: Update, context: Context) -> None:
    """/allowance <chat id> <minutes|default>: one chat's daily audio minutes, at once."""
    message = update.effective_message
    if message is None or not await _operator_in_private(update, context, "/allowance"):
        return
    args = context.args or []
    chat_id = parse_chat_id(args[0]) if args else None
    minutes = _minutes_arg(args[1]) if len(args) == 2 else None
    if chat_id is None or len(args) != 2 or (minutes is None and args[1].lower() != "default"):
        await message.reply_text(_allowance_text(None, None))
        return
    await set_allowance(chat_id, minutes)
    use = await daily_use(chat_id, services(context).config.chat_daily_audio_minutes)
    await message.reply_text(_allowance_text(chat_id, use))


def _allowance_text(chat_id: int | None, use: DailyUse | None) -> str:
    """The answer to /allowance, in English like /status (operators only)."""
    if chat_id is None or use is None:
        return ALLOWANCE_HOW
    allowed = "no limit" if use.allowed_minutes is None else f"{use.allowed_minutes:g} min a day"
    return f"✅ Chat {chat_id}: {allowed}; {use.used_seconds / 60:.1f} min used today (UTC)."


def parse_chat_id(text: str) -> int | None:
    """A chat id as Telegram numbers them: groups are negative."""
    return int(text) if re.fullmatch("-?[0-9]{1,18}", text) else None


def _minutes_arg(text: str) -> float | None:
    try:
        minutes = float(text)
    except ValueError:
        return None
    return minutes if 0 < minutes < 100_000 else None

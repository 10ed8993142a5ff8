"""/status for the operators (ADMIN_USER_IDS), in a private chat: the bot's state in a glance.
The report is in English (operators only); the refusals anyone may see are translated."""

from __future__ import annotations

from datetime import UTC, datetime

from telegram import Update

from bot.i18n import N_
from bot.ops.status import StatusReport, collect_status
from handlers.common import Context, chat_translator, is_group, services

NOT_AN_OPERATOR = N_("⛔ /status is for the bot's operators.")
PRIVATE_ONLY = N_("Ask me for /status in a private chat.")


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
    return (
        "📊 Bot status\n\n"
        f"⏳ Waiting: {report.waiting}\n"
        f"🎙 At Intron: {report.at_intron}\n"
        f"📨 Sending results: {report.replying}\n"
        f"❌ Failed in the last 24 h: {report.failed_last_day} "
        f"(✅ {report.delivered_last_day} delivered)\n"
        f"⚡ Added latency: {latency}\n"
        f"📉 Intron calls in the current rate window: {budget}"
    )


async def on_status(update: Update, context: Context) -> None:
    message, user = update.effective_message, update.effective_user
    if message is None:
        return
    svc = services(context)
    if user is None or user.id not in svc.config.admin_user_ids:
        tr = await chat_translator(update, context)
        await message.reply_text(tr.gettext(NOT_AN_OPERATOR), do_quote=True)
        return
    if is_group(message.chat):
        tr = await chat_translator(update, context)
        await message.reply_text(tr.gettext(PRIVATE_ONLY), do_quote=True)
        return
    report = await collect_status(
        budget_used=svc.budget.used, limits=svc.budget.limits, now=datetime.now(UTC)
    )
    await message.reply_text(_status_text(report))

"""/history with resend, /usage, and /forget."""

from __future__ import annotations

import time

from telegram import Chat, InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.chat.history import (
    can_resend,
    chat_usage,
    forget_chat,
    job_of_chat,
    recent_jobs,
    resend,
    total_usage,
)
from bot.engine.allowance import daily_use
from bot.engine.delivery import RESEND_PREFIX
from bot.i18n import N_, Translator
from bot.intron.options import CATEGORIES
from bot.telegram_io.callback_data import parse_id
from handlers.common import (
    BUTTON_EXPIRED,
    Context,
    answer,
    chat_translator,
    may_change_settings,
    services,
)
from storage.models import Job, JobState


def _state(job: Job, tr: Translator) -> str:
    if job.state == JobState.DELIVERED:
        state = tr.gettext("✅ delivered")
    elif job.state == JobState.FAILED:
        state = tr.gettext("❌ failed")
    elif job.state == JobState.HELD:
        state = tr.gettext("⏸ waiting for this chat's consent")
    else:
        state = tr.gettext("⏳ in progress")
    if job.reused_from is not None:
        state += " " + tr.gettext("(from an earlier result)")
    if job.purged_at is not None:
        state += " " + tr.gettext("(text erased)")
    return state


TODAY_OF_ALLOWANCE = N_(
    "⏳ Today (UTC): {used} of this chat's {allowed} audio minutes; renews at midnight UTC."
)
REUSED_USAGE = N_(
    "♻️ Answered from an earlier result: {count} (no audio minutes used, not counted above)."
)
REUSED_USAGE_ALL = N_("♻️ All chats, answered from an earlier result: {count}.")


def _job_line(job: Job, tr: Translator) -> str:
    seconds = int(job.processed_seconds or job.duration or 0)
    category = CATEGORIES.get(job.options.get("category", ""), None)
    label = tr.gettext(category.label) if category else "?"
    when = tr.date_time(job.created_at)
    return f"#{job.id} · {when} · {seconds // 60}:{seconds % 60:02d} · {label} · {_state(job, tr)}"


async def on_history(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is None:
        return
    tr = await chat_translator(update, context)
    jobs = await recent_jobs(message.chat_id)
    if not jobs:
        await message.reply_text(
            tr.gettext("Nothing transcribed in this chat yet (or it was erased with /forget).")
        )
        return
    resendable = [j for j in jobs if can_resend(j)]
    buttons = [
        [
            InlineKeyboardButton(
                tr.gettext("🔁 Resend #{id}", id=j.id), callback_data=f"{RESEND_PREFIX}{j.id}"
            )
        ]
        for j in resendable
    ]
    await message.reply_text(
        tr.gettext("🗂 Recent recordings (UTC):")
        + "\n\n"
        + "\n".join(_job_line(j, tr) for j in jobs),
        reply_markup=InlineKeyboardMarkup(buttons) if buttons else None,
    )


async def on_resend(update: Update, context: Context) -> None:
    query = update.callback_query
    if query is None or query.message is None:
        return
    tr = await chat_translator(update, context)
    job_id = parse_id((query.data or "").removeprefix(RESEND_PREFIX))
    if job_id is None:
        await answer(query, tr.gettext(BUTTON_EXPIRED))
        return
    chat_id = query.message.chat.id
    job = await job_of_chat(chat_id, job_id)
    if job is None or job.result is None:
        await answer(query, tr.gettext("That result is no longer stored."), alert=True)
        return
    # Headings in the language of whoever asks now (the chat may have changed its language).
    if not can_resend(job) or not await resend(job, tr, now=time.time()):
        await answer(query, tr.gettext("⏳ That result is already on its way."))
        return
    services(context).scheduler.wake()
    await answer(query, tr.gettext("Sending it again…"))


def _audio_minutes(minutes: float, recordings: int, tr: Translator) -> str:
    return tr.ngettext(
        "{minutes} audio minutes in {n} recording",
        "{minutes} audio minutes in {n} recordings",
        recordings,
        minutes=tr.decimal(minutes),
    )


async def on_usage(update: Update, context: Context) -> None:
    message, user = update.effective_message, update.effective_user
    if message is None:
        return
    tr = await chat_translator(update, context)
    usage = await chat_usage(message.chat_id)
    text = tr.gettext("🎙 This chat: {usage}.", usage=_audio_minutes(usage.minutes, usage.jobs, tr))
    if usage.reused:
        text += "\n" + tr.gettext(REUSED_USAGE, count=tr.integer(usage.reused))
    today = await daily_use(message.chat_id, services(context).config.chat_daily_audio_minutes)
    if today.allowed_minutes is not None:
        text += "\n" + tr.gettext(
            TODAY_OF_ALLOWANCE,
            used=tr.decimal(round(today.used_seconds / 60, 1)),
            allowed=tr.decimal(today.allowed_minutes),
        )
    # Every chat's totals are the operator's business, not a group's: in a group the operator
    # sees what any member sees (a hint to ask in private would tell the group who operates
    # the bot).
    operator = user is not None and user.id in services(context).config.admin_user_ids
    if operator and message.chat.type == Chat.PRIVATE:
        total = await total_usage()
        text += "\n" + tr.ngettext(
            "🌍 All chats: {usage} from {n} chat.",
            "🌍 All chats: {usage} from {n} chats.",
            total.chats,
            usage=_audio_minutes(total.minutes, total.jobs, tr),
        )
        if total.reused:
            text += "\n" + tr.gettext(REUSED_USAGE_ALL, count=tr.integer(total.reused))
    await message.reply_text(text)


async def on_forget(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is None:
        return
    tr = await chat_translator(update, context)
    keyboard = InlineKeyboardMarkup(
        [[
            InlineKeyboardButton(tr.gettext("🗑 Yes, erase"), callback_data="forget:yes"),
            InlineKeyboardButton(tr.gettext("Cancel"), callback_data="forget:no"),
        ]]
    )  # fmt: skip
    await message.reply_text(
        tr.gettext(
            "Erase every transcript, result and setting this bot keeps for this chat? "
            "Messages already in the chat stay; only the bot's copy is erased."
        ),
        reply_markup=keyboard,
    )


async def on_forget_button(update: Update, context: Context) -> None:
    query = update.callback_query
    if query is None or query.message is None:
        return
    # Read before the erasure: afterwards the chat's chosen bot language is gone too.
    tr = await chat_translator(update, context)
    if query.data not in ("forget:yes", "forget:no"):
        await answer(query, tr.gettext(BUTTON_EXPIRED))
        return
    if not await may_change_settings(update, context):
        await answer(
            query, tr.gettext("Only group administrators can erase this chat's data."), alert=True
        )
        return
    if query.data != "forget:yes":
        await answer(query, tr.gettext("Nothing was erased."))
        await query.edit_message_text(tr.gettext("Nothing was erased."))
        return
    forgotten = await forget_chat(query.message.chat.id)
    replier = services(context).replier
    for chat_id, message_id in forgotten.status_messages:
        await replier.delete(chat_id, message_id)
    await answer(query, tr.gettext("Erased."))
    erased = tr.ngettext(
        "🗑 Erased the stored text of {n} recording and this chat's settings.",
        "🗑 Erased the stored text of {n} recordings and this chat's settings.",
        forgotten.erased,
    )
    if forgotten.cancelled:
        erased += " " + tr.ngettext(
            "({n} in progress, stopped.)", "({n} in progress, stopped.)", forgotten.cancelled
        )
    await query.edit_message_text(erased)

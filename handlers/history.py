"""/history with resend, /usage, and /forget."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.chat.history import (
    can_resend,
    chat_usage,
    forget_chat,
    job_of_chat,
    recent_jobs,
    resend,
    total_usage,
)
from bot.chat.options import CATEGORIES
from handlers.common import Context, answer, may_change_settings, services
from storage.models import Job, JobState

STATE_TEXT = {
    JobState.DELIVERED: "✅ delivered",
    JobState.FAILED: "❌ failed",
}


REUSED_USAGE = (
    "♻️ Answered from an earlier result: {count} (no audio minutes used, not counted above)."
)
REUSED_USAGE_ALL = "♻️ All chats, answered from an earlier result: {count}."


def _recordings(count: int) -> str:
    return f"{count} recording" + ("" if count == 1 else "s")


def _job_line(job: Job) -> str:
    when = job.created_at.strftime("%d %b %H:%M")
    seconds = int(job.processed_seconds or job.duration or 0)
    category = CATEGORIES.get(job.options.get("category", ""), None)
    state = STATE_TEXT.get(job.state, "⏳ in progress")
    if job.reused_from is not None:
        state += " (from an earlier result)"
    if job.purged_at is not None:
        state += " (text erased)"
    label = category.label if category else "?"
    return f"#{job.id} · {when} · {seconds // 60}:{seconds % 60:02d} · {label} · {state}"


async def on_history(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is None:
        return
    jobs = await recent_jobs(message.chat_id)
    if not jobs:
        await message.reply_text(
            "Nothing transcribed in this chat yet (or it was erased with /forget)."
        )
        return
    resendable = [j for j in jobs if can_resend(j)]
    buttons = [
        [InlineKeyboardButton(f"🔁 Resend #{j.id}", callback_data=f"hist:{j.id}")]
        for j in resendable
    ]
    await message.reply_text(
        "🗂 Recent recordings (UTC):\n\n" + "\n".join(_job_line(j) for j in jobs),
        reply_markup=InlineKeyboardMarkup(buttons) if buttons else None,
    )


async def on_resend(update: Update, context: Context) -> None:
    query = update.callback_query
    if query is None or query.message is None:
        return
    _, _, raw_id = (query.data or "").partition(":")
    chat_id = query.message.chat.id
    job = await job_of_chat(chat_id, int(raw_id)) if raw_id.isdigit() else None
    if job is None or not can_resend(job):
        await answer(query, "That result is no longer stored.", alert=True)
        return
    await answer(query, "Sending it again…")
    await resend(job, services(context).replier, chat_id)


async def on_usage(update: Update, context: Context) -> None:
    message, user = update.effective_message, update.effective_user
    if message is None:
        return
    usage = await chat_usage(message.chat_id)
    text = f"🎙 This chat: {usage.minutes:.1f} audio minutes in {_recordings(usage.jobs)}."
    if usage.reused:
        text += "\n" + REUSED_USAGE.format(count=usage.reused)
    if user is not None and user.id in services(context).config.admin_user_ids:
        total = await total_usage()
        text += (
            f"\n🌍 All chats: {total.minutes:.1f} audio minutes in {_recordings(total.jobs)} "
            f"from {total.chats} chats."
        )
        if total.reused:
            text += "\n" + REUSED_USAGE_ALL.format(count=total.reused)
    await message.reply_text(text)


async def on_forget(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is None:
        return
    keyboard = InlineKeyboardMarkup(
        [[
            InlineKeyboardButton("🗑 Yes, erase", callback_data="forget:yes"),
            InlineKeyboardButton("Cancel", callback_data="forget:no"),
        ]]
    )  # fmt: skip
    await message.reply_text(
        "Erase every transcript, result and setting this bot keeps for this chat? "
        "Messages already in the chat stay; only the bot's copy is erased.",
        reply_markup=keyboard,
    )


async def on_forget_button(update: Update, context: Context) -> None:
    query = update.callback_query
    if query is None or query.message is None:
        return
    if not await may_change_settings(update, context):
        await answer(query, "Only group administrators can erase this chat's data.", alert=True)
        return
    if query.data != "forget:yes":
        await answer(query, "Nothing was erased.")
        await query.edit_message_text("Nothing was erased.")
        return
    forgotten = await forget_chat(query.message.chat.id)
    replier = services(context).replier
    for chat_id, message_id in forgotten.status_messages:
        await replier.delete(chat_id, message_id)
    await answer(query, "Erased.")
    stopped = f" ({forgotten.cancelled} in progress, stopped)" if forgotten.cancelled else ""
    await query.edit_message_text(
        f"🗑 Erased the stored text of {_recordings(forgotten.erased)}{stopped} and this "
        "chat's settings."
    )

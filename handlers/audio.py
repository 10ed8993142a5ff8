"""Audio in: accept it, tell the user it arrived, hand it to the scheduler."""

from __future__ import annotations

import logging

from telegram import Message, Update
from telegram.error import TelegramError

from bot.chat.preferences import ChatPreferences, load_preferences
from bot.engine.intake import create_job, release_job
from bot.i18n import N_, Translator
from bot.telegram_io.audio_input import ACCEPTED_TEXT, audio_in
from handlers.common import Context, chat_translator, is_group, services, translator_for

log = logging.getLogger(__name__)

RECEIVED_TEXT = N_("🎧 Received. Transcribing shortly…")


async def on_audio(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is None:
        return
    prefs = await load_preferences(message.chat_id)
    if is_group(message.chat) and prefs.on_request:
        return  # this group asked to transcribe only on /transcribe
    await _transcribe(message, context, prefs, translator_for(update, context, prefs))


async def on_transcribe(update: Update, context: Context) -> None:
    """/transcribe as a reply to a voice note transcribes that one, whatever the chat's mode.
    The job is answered in the language of whoever asked."""
    message = update.effective_message
    if message is None:
        return
    prefs = await load_preferences(message.chat_id)
    tr = translator_for(update, context, prefs)
    target = message.reply_to_message
    if target is None or audio_in(target) is None:
        await message.reply_text(
            tr.gettext("Reply /transcribe to a voice note or audio file to transcribe it."),
            do_quote=True,
        )
        return
    await _transcribe(target, context, prefs, tr, explicit=True)


async def on_unsupported(update: Update, context: Context) -> None:
    """Private chats only: in groups, people talk to each other, not to the bot."""
    message = update.effective_message
    if message is not None:
        tr = await chat_translator(update, context)
        text = tr.gettext("I can only transcribe audio.") + " " + tr.gettext(ACCEPTED_TEXT)
        await message.reply_text(text, do_quote=True)


async def _transcribe(
    message: Message,
    context: Context,
    prefs: ChatPreferences,
    tr: Translator,
    *,
    explicit: bool = False,
) -> None:
    svc = services(context)
    audio = audio_in(message)
    if audio is None:
        await message.reply_text(tr.gettext(ACCEPTED_TEXT), do_quote=True)
        return
    problem = audio.problem(svc.config.max_download_bytes)
    if problem is not None:
        await message.reply_text(f"❌ {tr.phrase(problem)}", do_quote=True)
        return
    job = await create_job(
        chat_id=message.chat_id,
        chat_type=message.chat.type,
        message_id=message.message_id,
        # A forum topic's recording is answered in that topic, even if it is deleted.
        thread_id=message.message_thread_id if message.is_topic_message else None,
        audio=audio,
        options=prefs.options,
        language=tr.language,
    )
    if job is None:
        # The same message again (Telegram redelivers updates): it already has its job.
        if explicit:
            await message.reply_text(
                tr.gettext("This recording is already transcribed or in progress."),
                do_quote=True,
            )
        return
    svc.metrics.recording_received(audio.kind)
    status_id: int | None = None
    try:
        status_id = (await message.reply_text(tr.gettext(RECEIVED_TEXT), do_quote=True)).message_id
    except TelegramError as exc:
        log.warning("job %s: could not send the status message: %s", job.id, type(exc).__name__)
    await release_job(job, status_id)
    svc.scheduler.wake()

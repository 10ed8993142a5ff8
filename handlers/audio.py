"""Audio in: accept it (a recording, or links to one), tell the user it arrived, hand it to
the scheduler."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import TelegramError

from bot.chat.consent import AGREE_BUTTON, ConsentTerms, must_hold, should_ask
from bot.chat.preferences import ChatPreferences, load_preferences
from bot.engine.allowance import OverAllowance
from bot.engine.delivery import resend_keyboard
from bot.engine.intake import create_job, release_job
from bot.engine.reuse import answered_in_chat
from bot.i18n import N_, Translator
from bot.telegram_io.audio_input import ACCEPTED_TEXT, AudioInput, audio_in
from bot.telegram_io.links import LinkCheck, LinkSelection, links_in, select_links
from handlers.common import Context, chat_translator, is_group, services, translator_for
from storage.models import Job, JobState

log = logging.getLogger(__name__)

RECEIVED_TEXT = N_("🎧 Received. Transcribing shortly…")
REUSED_TEXT = N_(
    "♻️ Received. This recording was transcribed before with these settings: sending that result…"
)
HELD_TEXT = N_(
    "⏸ Received. It waits until this chat agrees to how its recordings are handled (the "
    "message below), and is transcribed then."
)
LINK_RECEIVED_TEXT = N_("🔗 Received the link. Intron will fetch the audio; transcribing shortly…")
LINKS_RECEIVED_TEXT = N_("🔗 Received link {number} of {count}. Transcribing shortly…")
LINK_REFUSED = N_("❌ This link cannot be transcribed: {reason}")
ONE_OF_LINKS_REFUSED = N_("❌ {link} cannot be transcribed: {reason}")
# Refused links a reply names one by one; the rest are counted. A message can hold over a
# hundred links, and a reply naming each would pass Telegram's 4096 characters.
SHOWN_REFUSALS = 5
LINKS_SKIPPED = N_(
    "✂️ Took the first {taken} links of {total}; the other {skipped} were skipped (at most "
    "{taken} per message). Send them in another message."
)
TRANSCRIBE_HOW = N_(
    "Reply /transcribe to a voice note, an audio file or a message with a link to a recording "
    "to transcribe it."
)
IN_PROGRESS_OR_DONE = N_("This recording is already transcribed or in progress.")
ALREADY_ANSWERED = N_("✅ This recording was already transcribed in this chat.")
SHOWN_LINK_LENGTH = 60
OVER_ALLOWANCE = N_(
    "⏳ This chat has used its audio minutes for today: {left} of {allowed} left, not enough "
    "for this recording. The allowance renews at midnight UTC, in {renews}."
)


async def on_audio(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is None:
        return
    prefs = await load_preferences(message.chat_id)
    if is_group(message.chat) and prefs.on_request:
        return  # this group asked to transcribe only on /transcribe
    await _transcribe(message, context, prefs, translator_for(update, context, prefs))


async def on_links(update: Update, context: Context) -> None:
    """Private chats only: in groups links are mostly chatter, transcribed on /transcribe."""
    message = update.effective_message
    if message is None:
        return
    prefs = await load_preferences(message.chat_id)
    await _transcribe_links(message, context, prefs, translator_for(update, context, prefs))


async def on_transcribe(update: Update, context: Context) -> None:
    """/transcribe as a reply to a voice note (or a message with links) transcribes it, whatever
    the chat's mode; one this chat already has the result of is offered again. The job is
    answered in the language of whoever asked."""
    message = update.effective_message
    if message is None:
        return
    prefs = await load_preferences(message.chat_id)
    tr = translator_for(update, context, prefs)
    target = message.reply_to_message
    if target is None:
        await message.reply_text(tr.gettext(TRANSCRIBE_HOW), do_quote=True)
        return
    audio = audio_in(target)
    if audio is None:
        if links_in(target):
            await _transcribe_links(target, context, prefs, tr, explicit=True)
        else:
            await message.reply_text(tr.gettext(TRANSCRIBE_HOW), do_quote=True)
        return
    earlier = await answered_in_chat(
        target.chat_id,
        message_id=target.message_id,
        file_unique_id=audio.unique_id,
        options=prefs.options.model_dump(mode="json"),
    )
    if earlier is not None:
        await message.reply_text(
            tr.gettext(ALREADY_ANSWERED),
            reply_markup=resend_keyboard(earlier.id, tr),
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
    problem = audio.problem(svc.config.max_download_bytes, svc.config.max_recording_minutes)
    if problem is not None:
        await message.reply_text(f"❌ {tr.phrase(problem)}", do_quote=True)
        return
    job = await _create(
        message,
        audio,
        prefs,
        tr,
        daily_minutes=svc.config.chat_daily_audio_minutes,
        held=await must_hold(message.chat_id, svc.consent),
    )
    if isinstance(job, OverAllowance):
        await message.reply_text(over_allowance_text(job, tr), do_quote=True)
        return
    if job is None:
        # The same message again (Telegram redelivers updates): it already has its job.
        if explicit:
            await message.reply_text(tr.gettext(IN_PROGRESS_OR_DONE), do_quote=True)
        return
    text = REUSED_TEXT if job.reused_from else RECEIVED_TEXT
    if job.state == JobState.HELD:
        text = HELD_TEXT
    await _announce(message, context, job, tr.gettext(text), quiet=prefs.quiet)
    await ask_consent(message, [job], svc.consent, tr)


async def _transcribe_links(
    message: Message,
    context: Context,
    prefs: ChatPreferences,
    tr: Translator,
    *,
    explicit: bool = False,
) -> None:
    """One job per acceptable link, up to the configured number; every refused link gets its
    reason. Jobs are stored before anything is said."""
    config = services(context).config
    links = select_links(
        links_in(message), limit=config.max_links_per_message, refused_hosts=config.bot_api_hosts
    )
    jobs = []
    over: OverAllowance | None = None
    held = bool(links.taken) and await must_hold(message.chat_id, services(context).consent)
    for index, url in enumerate(links.taken):
        job = await _create(
            message,
            AudioInput.of_link(url),
            prefs,
            tr,
            link_index=index,
            daily_minutes=config.chat_daily_audio_minutes,
            held=held,
        )
        if isinstance(job, OverAllowance):
            over = job
        elif job is not None:
            jobs.append(job)
    if over is not None:
        await message.reply_text(over_allowance_text(over, tr), do_quote=True)
    if links.taken and not jobs and over is None:
        # The same message again (redelivered, or asked twice): its jobs exist.
        if explicit:
            await message.reply_text(tr.gettext(IN_PROGRESS_OR_DONE), do_quote=True)
        return
    notes = _refusals(links, tr)
    if links.skipped:
        taken, skipped = len(links.taken), links.skipped
        notes.append(tr.gettext(LINKS_SKIPPED, taken=taken, total=taken + skipped, skipped=skipped))
    if notes:
        await message.reply_text("\n".join(notes), do_quote=True)
    for job in jobs:
        if job.state == JobState.HELD:
            text = tr.gettext(HELD_TEXT)
        elif len(links.taken) == 1:
            text = tr.gettext(LINK_RECEIVED_TEXT)
        else:
            count = len(links.taken)
            text = tr.gettext(LINKS_RECEIVED_TEXT, number=job.link_index + 1, count=count)
        await _announce(message, context, job, text, quiet=prefs.quiet)
    await ask_consent(message, jobs, services(context).consent, tr)


async def ask_consent(
    message: Message, jobs: list[Job], terms: ConsentTerms, tr: Translator
) -> None:
    """The consent request, with its button, for the chat's first recordings held for it."""
    if not await should_ask(message.chat_id, jobs):
        return
    button = InlineKeyboardButton(tr.gettext(AGREE_BUTTON), callback_data=terms.button_data)
    await message.reply_text(
        terms.text(tr), reply_markup=InlineKeyboardMarkup([[button]]), do_quote=True
    )


def _refusals(links: LinkSelection, tr: Translator) -> list[str]:
    """The first refused links with their reasons (message ids from
    bot/telegram_io/links.py), translated, then how many more there were."""
    if links.single and links.refused:
        return [tr.gettext(LINK_REFUSED, reason=_reason(links.refused[0], tr))]
    shown, rest = links.refused[:SHOWN_REFUSALS], len(links.refused) - SHOWN_REFUSALS
    notes = [
        tr.gettext(ONE_OF_LINKS_REFUSED, link=_shown(c.url), reason=_reason(c, tr)) for c in shown
    ]
    if rest > 0:
        notes.append(
            tr.ngettext(
                "❌ And {n} more link that cannot be transcribed.",
                "❌ And {n} more links that cannot be transcribed.",
                rest,
            )
        )
    return notes


def over_allowance_text(refused: OverAllowance, tr: Translator) -> str:
    """The refusal of a recording (or of an output asked from a result) over the allowance."""
    use = refused.use
    wait = max(0, int((use.renews_at - datetime.now(UTC)).total_seconds()))
    return tr.gettext(
        OVER_ALLOWANCE,
        left=_minutes(use.left_minutes or 0.0),
        allowed=_minutes(use.allowed_minutes or 0.0),
        renews=f"{wait // 3600} h {wait % 3600 // 60:02d} min",
    )


def _minutes(value: float) -> str:
    return f"{round(value, 1):g}"


def _reason(check: LinkCheck, tr: Translator) -> str:
    return tr.gettext(check.refusal) if check.refusal else ""


def _shown(url: str) -> str:
    return url if len(url) <= SHOWN_LINK_LENGTH else url[: SHOWN_LINK_LENGTH - 1] + "…"


async def _create(
    message: Message,
    audio: AudioInput,
    prefs: ChatPreferences,
    tr: Translator,
    *,
    link_index: int = 0,
    daily_minutes: float | None = None,
    held: bool = False,
) -> Job | OverAllowance | None:
    return await create_job(
        chat_id=message.chat_id,
        chat_type=message.chat.type,
        message_id=message.message_id,
        # A forum topic's recording is answered in that topic, even if it is deleted.
        thread_id=message.message_thread_id if message.is_topic_message else None,
        audio=audio,
        options=prefs.options,
        reuse=prefs.reuse_results,
        link_index=link_index,
        language=tr.language,
        daily_minutes=daily_minutes,
        held=held,
    )


async def _announce(
    message: Message, context: Context, job: Job, text: str, *, quiet: bool = False
) -> None:
    """Tell the chat the job arrived (its status message), then let it start. A quiet chat
    gets no status message: the job starts at once, and its answer is all the chat sees."""
    svc = services(context)
    svc.metrics.recording_received(job.media_kind)
    status_id: int | None = None
    try:
        if not quiet:
            status_id = (await message.reply_text(text, do_quote=True)).message_id
    except TelegramError as exc:
        log.warning("job %s: could not send the status message: %s", job.id, type(exc).__name__)
    if not await release_job(job, status_id):
        await svc.replier.delete(message.chat_id, status_id)  # answered before it was sent
    svc.scheduler.wake()

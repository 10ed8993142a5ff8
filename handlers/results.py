"""The buttons under a delivered result: show its offers, ask for one more output, name the
speakers (from a role pair, or names typed in a reply)."""

from __future__ import annotations

import functools
import logging
import time

from telegram import CallbackQuery, Chat, ForceReply, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, TelegramError

from bot.chat.consent import must_hold
from bot.chat.history import job_of_chat, resend
from bot.chat.more_outputs import Asked, ask_for_output, holds_result
from bot.chat.result_menu import (
    ASK_OUTPUT,
    NAME_ROLES,
    SCREENS,
    ResultPress,
    keyboard_for,
    parse_press,
)
from bot.chat.speakers import (
    asked_names_for,
    name_with_names,
    name_with_roles,
    parse_names,
    result_named_by_reply,
)
from bot.engine.delivery import threading_in
from bot.engine.intake import release_job
from bot.i18n import N_, Translator
from bot.intron.options import flag_label, role_pair_label
from bot.render import OutgoingText
from bot.telegram_io.errors import Refusal, is_refusal
from bot.telegram_io.files import still_served
from bot.telegram_io.replies import reply_to
from handlers.audio import HELD_TEXT, ask_consent, on_unsupported, over_allowance_text
from handlers.common import (
    BUTTON_EXPIRED,
    Context,
    answer,
    chat_translator,
    may_change_settings,
    services,
)
from storage.models import Job, JobState

log = logging.getLogger(__name__)

ONLY_ADMINS = N_("Only group administrators can ask for more from a result.")
NOT_STORED = N_("That result is no longer stored.")
ASKED = N_("{output}: asked for. It comes as a reply to the recording.")
ASKING_STATUS = N_("➕ {output}: sending the same recording to Intron again…")
ON_ITS_WAY = N_("{output} was already asked for: it is on its way.")
SENT = N_("{output} was already sent for this recording. /history can send it again.")
FILE_GONE = N_(
    "Telegram no longer serves this recording's file, so it cannot be sent to Intron again. "
    "Please send the recording again."
)
UNAVAILABLE = N_("That option is no longer available")
NAMED = N_("Speakers: {names}. Sending the result again with them…")
TYPE_NAMES_PROMPT = N_(
    "✏️ Reply to this message with the speakers' names, in the order they first speak, "
    "separated by commas. For example: Dr Amina, Mama Neema"
)
TYPE_NAMES_PLACEHOLDER = N_("Dr Amina, Mama Neema")
TYPE_NAMES_ASKED = N_("Reply to my message with their names.")
NO_NAMES = N_("I found no names in that. Reply again with names separated by commas.")
ONLY_ADMINS_NAME = N_("Only group administrators can name the speakers.")


async def on_result_button(update: Update, context: Context) -> None:
    query = update.callback_query
    if query is None or query.message is None:
        return
    tr = await chat_translator(update, context)
    press = parse_press(query.data or "")
    if press is None:
        await answer(query, tr.gettext(BUTTON_EXPIRED))
        return
    # In groups the chat's settings rules apply: what a result asks of Intron is theirs to ask.
    if not await may_change_settings(update, context):
        await answer(query, tr.gettext(ONLY_ADMINS), alert=True)
        return
    chat_id = query.message.chat.id
    source = await job_of_chat(chat_id, press.job_id)
    if source is None or not holds_result(source):
        await answer(query, tr.gettext(NOT_STORED), alert=True)
        return
    if press.action in SCREENS:
        markup = await keyboard_for(source, tr, screen=press.action, category=press.category)
        await _show(query, markup)
        await answer(query)
        return
    if press.action == ASK_OUTPUT:
        await _ask_for_output(query, context, source, press, tr, chat_id)
    elif press.action == NAME_ROLES:
        assert press.roles is not None
        if not await name_with_roles(source, press.roles):
            await answer(query, tr.gettext(NOT_STORED), alert=True)
            return
        await answer(query, tr.gettext(NAMED, names=role_pair_label(press.roles, tr)))
        await _show(query, await keyboard_for(source, tr))
        await resend(source, tr, now=time.time(), asked_by_hand=False)
        services(context).scheduler.wake()
    else:
        await _ask_for_names(query, context, source, tr, chat_id)


async def _ask_for_output(
    query: CallbackQuery,
    context: Context,
    source: Job,
    press: ResultPress,
    tr: Translator,
    chat_id: int,
) -> None:
    assert press.category is not None and press.flag is not None
    svc = services(context)
    request = await ask_for_output(
        source,
        press.category,
        press.flag,
        chat_id=chat_id,
        language=tr.language,
        still_served=functools.partial(still_served, context.bot),
        daily_minutes=svc.config.chat_daily_audio_minutes,
        held=await must_hold(chat_id, svc.consent),
    )
    output = flag_label(press.flag, tr)
    match request.asked:
        case Asked.NEW:
            job = request.job
            assert job is not None
            await answer(query, tr.gettext(ASKED, output=output))
            asking = HELD_TEXT if job.state == JobState.HELD else ASKING_STATUS
            status = None if request.quiet else tr.gettext(asking, output=output)
            await _announce(context, job, chat_id, status)
            if isinstance(query.message, Message):
                await ask_consent(query.message, [job], svc.consent, tr)
        case Asked.ON_ITS_WAY:
            await answer(query, tr.gettext(ON_ITS_WAY, output=output))
        case Asked.SENT:
            await answer(query, tr.gettext(SENT, output=output))
        case Asked.FILE_GONE:
            await answer(query, tr.gettext(FILE_GONE), alert=True)
        case Asked.UNAVAILABLE:
            await answer(query, tr.gettext(UNAVAILABLE))
        case Asked.OVER_ALLOWANCE:
            # Longer than a press's answer may be (200 characters): a reply to the recording.
            assert request.refused is not None
            await answer(query)
            reply_to_id, thread_id = threading_in(source, chat_id)
            await context.bot.send_message(
                chat_id,
                over_allowance_text(request.refused, tr),
                reply_parameters=reply_to(reply_to_id),
                message_thread_id=thread_id,
            )


async def _ask_for_names(
    query: CallbackQuery, context: Context, source: Job, tr: Translator, chat_id: int
) -> None:
    """A message the chat replies to with the names; threaded to the recording, so the reply
    box opens for whoever sent it."""
    reply_to_id, thread_id = threading_in(source, chat_id)
    prompt = await context.bot.send_message(
        chat_id,
        tr.gettext(TYPE_NAMES_PROMPT),
        reply_parameters=reply_to(reply_to_id),
        message_thread_id=thread_id,
        reply_markup=ForceReply(
            selective=True, input_field_placeholder=tr.gettext(TYPE_NAMES_PLACEHOLDER)
        ),
    )
    await asked_names_for(source, prompt.message_id)
    await answer(query, tr.gettext(TYPE_NAMES_ASKED))
    await _show(query, await keyboard_for(source, tr))


async def on_speaker_names(update: Update, context: Context) -> None:
    """A reply to the message asking for the speakers' names: the result is sent again with
    them. A reply to any other message of the bot is not about names."""
    message = update.effective_message
    if message is None or message.reply_to_message is None or not message.text:
        return
    job = await result_named_by_reply(message.chat_id, message.reply_to_message.message_id)
    if job is None:
        if message.chat.type == Chat.PRIVATE:
            await on_unsupported(update, context)
        return
    tr = await chat_translator(update, context)
    if not await may_change_settings(update, context):
        await message.reply_text(tr.gettext(ONLY_ADMINS_NAME), do_quote=True)
        return
    names = parse_names(message.text)
    if not names:
        await message.reply_text(tr.gettext(NO_NAMES), do_quote=True)
        return
    if await name_with_names(job, names):
        await resend(job, tr, now=time.time(), asked_by_hand=False)
        services(context).scheduler.wake()


async def _announce(context: Context, job: Job, chat_id: int, text: str | None) -> None:
    """The new job's status message, threaded to the recording (none in a quiet chat), then
    let it start."""
    svc = services(context)
    status_id: int | None = None
    if text is not None:
        reply_to_id, thread_id = threading_in(job, chat_id)
        try:
            status_id = await svc.replier.send(
                chat_id, OutgoingText(text, ()), reply_to_id=reply_to_id, thread_id=thread_id
            )
        except TelegramError as exc:
            log.warning("job %s: could not send the status message: %s", job.id, type(exc).__name__)
    if not await release_job(job, status_id):
        await svc.replier.delete(chat_id, status_id)  # answered before it was sent
    svc.scheduler.wake()


async def _show(query: CallbackQuery, markup: InlineKeyboardMarkup | None) -> None:
    try:
        await query.edit_message_reply_markup(markup)
    except BadRequest as exc:
        # Pressing the screen the keyboard already shows leaves nothing to edit.
        if not is_refusal(exc, Refusal.NOT_MODIFIED):
            log.warning("result keyboard edit refused: %s", exc.message)

"""The buttons under a delivered result: show its offers, ask for one more output."""

from __future__ import annotations

import functools
import logging

from telegram import CallbackQuery, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, TelegramError

from bot.chat.history import job_of_chat
from bot.chat.more_outputs import Asked, ask_for_output, holds_result
from bot.chat.result_menu import SCREENS, ResultPress, keyboard_for, parse_press
from bot.engine.delivery import threading_in
from bot.engine.intake import release_job
from bot.i18n import N_, Translator
from bot.intron.options import flag_label
from bot.render import OutgoingText
from bot.telegram_io.errors import Refusal, is_refusal
from bot.telegram_io.files import still_served
from handlers.common import (
    BUTTON_EXPIRED,
    Context,
    answer,
    chat_translator,
    may_change_settings,
    services,
)
from storage.models import Job

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
    await _ask_for_output(query, context, source, press, tr, chat_id)


async def _ask_for_output(
    query: CallbackQuery,
    context: Context,
    source: Job,
    press: ResultPress,
    tr: Translator,
    chat_id: int,
) -> None:
    assert press.category is not None and press.flag is not None
    request = await ask_for_output(
        source,
        press.category,
        press.flag,
        chat_id=chat_id,
        language=tr.language,
        still_served=functools.partial(still_served, context.bot),
    )
    output = flag_label(press.flag, tr)
    match request.asked:
        case Asked.NEW:
            assert request.job is not None
            await answer(query, tr.gettext(ASKED, output=output))
            status = None if request.quiet else tr.gettext(ASKING_STATUS, output=output)
            await _announce(context, request.job, chat_id, status)
        case Asked.ON_ITS_WAY:
            await answer(query, tr.gettext(ON_ITS_WAY, output=output))
        case Asked.SENT:
            await answer(query, tr.gettext(SENT, output=output))
        case Asked.FILE_GONE:
            await answer(query, tr.gettext(FILE_GONE), alert=True)
        case Asked.UNAVAILABLE:
            await answer(query, tr.gettext(UNAVAILABLE))


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

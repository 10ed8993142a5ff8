"""The consent request's "I agree" button (CONSENT_REQUIRED)."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.chat.consent import AGREE_BUTTON, agree, agreed_line, pressed_version
from bot.i18n import N_
from handlers.common import (
    BUTTON_EXPIRED,
    Context,
    answer,
    chat_translator,
    is_chat_administrator,
    is_group,
    services,
)

ONLY_ADMINS_AGREE = N_("Only this group's administrators can agree for it.")
TEXT_CHANGED = N_("This text has changed since it was sent: please read the new one and agree.")
AGREED = N_("Thank you: this chat's recordings go on now.")
ALREADY_AGREED = N_("This chat has already agreed.")


async def on_consent_button(update: Update, context: Context) -> None:
    query, user = update.callback_query, update.effective_user
    if query is None or query.message is None or user is None:
        return
    tr = await chat_translator(update, context)
    svc = services(context)
    terms = svc.consent
    version = pressed_version(query.data or "")
    if version is None or not terms.required:
        await answer(query, tr.gettext(BUTTON_EXPIRED))
        return
    chat = query.message.chat
    if is_group(chat) and not await is_chat_administrator(update, context):
        await answer(query, tr.gettext(ONLY_ADMINS_AGREE), alert=True)
        return
    if version != terms.version:
        await answer(query, tr.gettext(TEXT_CHANGED), alert=True)
        button = InlineKeyboardButton(tr.gettext(AGREE_BUTTON), callback_data=terms.button_data)
        await context.bot.send_message(
            chat.id,
            terms.text(tr),
            reply_markup=InlineKeyboardMarkup([[button]]),
            message_thread_id=getattr(query.message, "message_thread_id", None),
        )
        return
    agreement = await agree(chat.id, terms, user_id=user.id, user_name=user.full_name)
    if agreement.released:
        svc.scheduler.wake()
    await answer(query, tr.gettext(AGREED if agreement.recorded else ALREADY_AGREED))
    # The request, as agreed to, with who agreed and when; its button goes.
    agreed = terms.text(tr) + "\n\n" + agreed_line(tr, agreement.consent)
    await svc.replier.edit_status(chat.id, query.message.message_id, agreed)

"""/settings and its buttons."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import BadRequest

from bot.chat.preferences import ChatPreferences, load_preferences
from bot.chat.settings_menu import InvalidAction, home_screen
from bot.chat.settings_press import press_settings_button
from bot.i18n import Translator
from bot.telegram_io.errors import Refusal, is_refusal
from handlers.common import (
    Context,
    answer,
    is_group,
    may_change_settings,
    services,
    translator_for,
)

log = logging.getLogger(__name__)


async def on_settings(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is None:
        return
    prefs = await load_preferences(message.chat_id)
    tr = translator_for(update, context, prefs)
    templates = services(context).config.template_names
    screen = home_screen(prefs, tr, is_group=is_group(message.chat), templates=templates)
    await message.reply_text(screen.text, reply_markup=screen.markup)


async def on_settings_button(update: Update, context: Context) -> None:
    query = update.callback_query
    if query is None or query.message is None:
        return
    chat = query.message.chat

    def tr_for(prefs: ChatPreferences) -> Translator:
        return translator_for(update, context, prefs)

    if not await may_change_settings(update, context):
        tr = tr_for(await load_preferences(chat.id))
        await answer(
            query, tr.gettext("Only group administrators can change these settings."), alert=True
        )
        return
    try:
        result = await press_settings_button(
            chat.id,
            query.data or "",
            tr_for,
            is_group=is_group(chat),
            update_id=update.update_id,
            templates=services(context).config.template_names,
        )
    except InvalidAction:
        tr = tr_for(await load_preferences(chat.id))
        await answer(
            query,
            tr.gettext("This menu has expired. Send /settings to open a new one."),
            alert=True,
        )
        return
    try:
        await query.edit_message_text(result.screen.text, reply_markup=result.screen.markup)
    except BadRequest as exc:
        # Pressing the button a menu already shows leaves nothing to edit; anything else is
        # logged but never raised at the user.
        if not is_refusal(exc, Refusal.NOT_MODIFIED):
            log.warning("settings menu edit refused: %s", exc.message)
    finally:
        await answer(query, result.notice or None)

"""Every handler the bot has, registered in one place."""

from __future__ import annotations

from telegram import Message, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.telegram_io.audio_input import audio_in
from handlers.access import enforce_allowed_chats
from handlers.audio import on_audio, on_transcribe, on_unsupported
from handlers.commands import COMMANDS, on_help, on_start, on_unknown_command
from handlers.common import Context
from handlers.history import on_forget, on_forget_button, on_history, on_resend, on_usage
from handlers.settings_menu import on_settings, on_settings_button


class _CarriesAudio(filters.MessageFilter):
    """The same rule the intake applies, so the filter and the job never disagree."""

    def filter(self, message: Message) -> bool:
        return audio_in(message) is not None


AUDIO = _CarriesAudio(name="CarriesAudio")


async def on_stale_button(update: Update, context: Context) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer("This button has expired.")


__all__ = ["COMMANDS", "register_handlers"]


def register_handlers(app: Application) -> None:
    # Group -1 runs first and may stop an update from a chat that is not allowed.
    app.add_handler(TypeHandler(Update, enforce_allowed_chats), group=-1)

    app.add_handler(CommandHandler("start", on_start))
    app.add_handler(CommandHandler("help", on_help))
    app.add_handler(CommandHandler("settings", on_settings))
    app.add_handler(CommandHandler("transcribe", on_transcribe))
    app.add_handler(CommandHandler("history", on_history))
    app.add_handler(CommandHandler("usage", on_usage))
    app.add_handler(CommandHandler("forget", on_forget))
    app.add_handler(CallbackQueryHandler(on_settings_button, pattern=r"^set:"))
    app.add_handler(CallbackQueryHandler(on_resend, pattern=r"^hist:"))
    app.add_handler(CallbackQueryHandler(on_forget_button, pattern=r"^forget:"))
    app.add_handler(CallbackQueryHandler(on_stale_button))
    app.add_handler(MessageHandler(AUDIO & ~filters.UpdateType.EDITED, on_audio))
    app.add_handler(MessageHandler(filters.COMMAND, on_unknown_command))
    app.add_handler(
        MessageHandler(
            filters.ChatType.PRIVATE
            & ~filters.COMMAND
            & ~filters.UpdateType.EDITED
            & ~filters.StatusUpdate.ALL,
            on_unsupported,
        )
    )

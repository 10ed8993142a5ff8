"""Every handler the bot has, registered in one place."""

from __future__ import annotations

from telegram import Chat, Message, MessageEntity, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.engine.delivery import RESEND_PREFIX
from bot.telegram_io.audio_input import audio_in
from bot.telegram_io.links import links_in
from handlers.access import enforce_allowed_chats
from handlers.audio import on_audio, on_links, on_transcribe, on_unsupported
from handlers.chat_migration import on_chat_migrated
from handlers.commands import (
    on_help,
    on_privacy,
    on_start,
    on_unknown_command,
    publish_commands,
)
from handlers.common import BUTTON_EXPIRED, Context, answer, chat_translator
from handlers.consent import on_consent_button
from handlers.errors import on_error
from handlers.history import on_forget, on_forget_button, on_history, on_resend, on_usage
from handlers.results import on_result_button, on_speaker_names
from handlers.settings_menu import on_settings, on_settings_button
from handlers.status import on_allowance, on_status


class _CarriesAudio(filters.MessageFilter):
    """The same rule the intake applies, so the filter and the job never disagree."""

    def filter(self, message: Message) -> bool:
        return audio_in(message) is not None


AUDIO = _CarriesAudio(name="CarriesAudio")


class _CarriesLinks(filters.MessageFilter):
    """Text or a caption with links in it (whether the bot may use them is checked later)."""

    def filter(self, message: Message) -> bool:
        return bool(links_in(message))


LINKS = _CarriesLinks(name="CarriesLinks")


class _RepliesToThisBot(filters.MessageFilter):
    """A reply to one of this bot's own messages (such as the one asking for speakers' names)."""

    def filter(self, message: Message) -> bool:
        target = message.reply_to_message
        return (
            target is not None
            and target.from_user is not None
            and target.from_user.id == message.get_bot().id
        )


REPLIES_TO_THIS_BOT = _RepliesToThisBot(name="RepliesToThisBot")


class _ForThisBot(filters.MessageFilter):
    """A command this bot should answer: `/cmd@thisbot` anywhere, a bare `/cmd` only in
    private chats. In groups a bare command, or `/cmd@OtherBot`, may be another bot's."""

    def filter(self, message: Message) -> bool:
        command = next(
            (e for e in message.entities if e.type == MessageEntity.BOT_COMMAND and e.offset == 0),
            None,
        )
        if command is None or message.text is None:
            return False
        _, at, addressee = message.parse_entity(command).partition("@")
        if at:
            return addressee.lower() == (message.get_bot().username or "").lower()
        return message.chat.type == Chat.PRIVATE


FOR_THIS_BOT = _ForThisBot(name="ForThisBot")


async def on_stale_button(update: Update, context: Context) -> None:
    if update.callback_query is not None:
        tr = await chat_translator(update, context)
        await answer(update.callback_query, tr.gettext(BUTTON_EXPIRED))


__all__ = ["publish_commands", "register_handlers"]


def register_handlers(app: Application) -> None:
    # Group -1 runs first and may stop an update from a chat that is not allowed.
    app.add_handler(TypeHandler(Update, enforce_allowed_chats), group=-1)
    app.add_error_handler(on_error)

    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, on_chat_migrated))
    app.add_handler(CommandHandler("start", on_start))
    app.add_handler(CommandHandler("help", on_help))
    app.add_handler(CommandHandler("settings", on_settings))
    app.add_handler(CommandHandler("transcribe", on_transcribe))
    app.add_handler(CommandHandler("history", on_history))
    app.add_handler(CommandHandler("usage", on_usage))
    app.add_handler(CommandHandler("forget", on_forget))
    app.add_handler(CommandHandler("privacy", on_privacy))
    app.add_handler(CommandHandler("status", on_status))  # operators only: not in COMMANDS
    app.add_handler(CommandHandler("allowance", on_allowance))  # operators only, likewise
    app.add_handler(CallbackQueryHandler(on_settings_button, pattern=r"^set:"))
    app.add_handler(CallbackQueryHandler(on_resend, pattern=f"^{RESEND_PREFIX}"))
    app.add_handler(CallbackQueryHandler(on_forget_button, pattern=r"^forget:"))
    app.add_handler(CallbackQueryHandler(on_result_button, pattern=r"^res:"))
    app.add_handler(CallbackQueryHandler(on_consent_button, pattern=r"^consent:"))
    app.add_handler(CallbackQueryHandler(on_stale_button))
    app.add_handler(MessageHandler(AUDIO & ~filters.UpdateType.EDITED, on_audio))
    # Links in groups are mostly chatter: there they are transcribed only on /transcribe.
    app.add_handler(
        MessageHandler(
            LINKS & filters.ChatType.PRIVATE & ~filters.COMMAND & ~filters.UpdateType.EDITED,
            on_links,
        )
    )
    # Speakers' names typed in a reply to the bot's question (in groups too: privacy mode lets a
    # bot see replies to its own messages).
    app.add_handler(
        MessageHandler(
            REPLIES_TO_THIS_BOT & filters.TEXT & ~filters.COMMAND & ~filters.UpdateType.EDITED,
            on_speaker_names,
        )
    )
    app.add_handler(MessageHandler(filters.COMMAND & FOR_THIS_BOT, on_unknown_command))
    app.add_handler(
        MessageHandler(
            filters.ChatType.PRIVATE
            & ~filters.COMMAND
            & ~filters.UpdateType.EDITED
            & ~filters.StatusUpdate.ALL,
            on_unsupported,
        )
    )

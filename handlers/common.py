"""What every handler module needs: the services, the language to answer in, who may change a
chat's settings, and answering a button press."""

from __future__ import annotations

from telegram import CallbackQuery, Chat, Update
from telegram.constants import ChatMemberStatus
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from bot.chat.preferences import ChatPreferences, load_preferences
from bot.i18n import N_, Translator, choose_language
from bot.telegram_io.errors import Refusal, is_refusal
from handlers.services import Services

Context = ContextTypes.DEFAULT_TYPE

# The answer to a button press whose data this bot does not offer (any more, or ever: a client
# can send any data): short, and not an error.
BUTTON_EXPIRED = N_("This button has expired.")


def services(context: Context) -> Services:
    return context.application.bot_data["services"]


def telegram_language(update: Update) -> str | None:
    """The language the person who sent this update uses Telegram in (`fr`, `sw-KE`, ...)."""
    user = update.effective_user
    return user.language_code if user is not None else None


def translator_for(update: Update, context: Context, prefs: ChatPreferences) -> Translator:
    """The chat's bot language from /settings, else that of whoever sent the update (in a
    group without a chosen bot language, each member is answered in their own)."""
    language = choose_language(prefs.bot_language, telegram_language(update))
    return services(context).locales.translator(language)


async def chat_translator(update: Update, context: Context) -> Translator:
    chat = update.effective_chat
    prefs = await load_preferences(chat.id) if chat is not None else ChatPreferences.default()
    return translator_for(update, context, prefs)


def is_group(chat: Chat) -> bool:
    return chat.type in (Chat.GROUP, Chat.SUPERGROUP)


async def may_change_settings(update: Update, context: Context) -> bool:
    """In private chats the user owns the settings; in groups only administrators do."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None:
        return False
    if not is_group(chat) or user.id in services(context).config.admin_user_ids:
        return True
    return await is_chat_administrator(update, context)


async def is_chat_administrator(update: Update, context: Context) -> bool:
    """Whether whoever sent this update administers its chat, as Telegram says now
    (getChatMember); False when Telegram cannot say."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None:
        return False
    try:
        member = await context.bot.get_chat_member(chat.id, user.id)
    except TelegramError:
        return False
    return member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)


async def answer(query: CallbackQuery, text: str | None = None, *, alert: bool = False) -> None:
    """Answer a button press; one pressed too long ago cannot be answered, and that is fine."""
    try:
        await query.answer(text, show_alert=alert)
    except BadRequest as exc:
        if not is_refusal(exc, Refusal.QUERY_EXPIRED):
            raise

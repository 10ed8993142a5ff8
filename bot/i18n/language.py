"""Which language a chat is answered in: its chosen "bot language", else the user's Telegram
language when the bot speaks it, else English."""

from __future__ import annotations

ENGLISH_CODE = "en"
# The languages the bot itself speaks, in menu order; each has a catalogue except English.
BOT_LANGUAGES: tuple[str, ...] = ("en", "fr", "sw")
# Each language's name in itself: someone looking for their language finds it in any menu.
BOT_LANGUAGE_NAMES: dict[str, str] = {"en": "English", "fr": "Français", "sw": "Kiswahili"}


def from_telegram(language_code: str | None) -> str | None:
    """The bot language matching a Telegram `language_code` (an IETF tag: `fr`, `fr-CA`,
    `sw-KE`), or None when the bot does not speak it."""
    if not language_code:
        return None
    primary = language_code.replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in BOT_LANGUAGES else None


def choose_language(chosen: str | None, telegram_language_code: str | None) -> str:
    """A chat's bot language set in /settings wins; otherwise the Telegram language of the
    person the bot is answering (in a private chat, the chat's owner)."""
    if chosen in BOT_LANGUAGES:
        return chosen
    return from_telegram(telegram_language_code) or ENGLISH_CODE

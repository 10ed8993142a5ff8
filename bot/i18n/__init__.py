"""The languages the bot speaks (English, French, Swahili): catalogues, translators, and which
language a chat is answered in.

Every user-facing text is an English gettext message id; `Locales` compiles the committed
`.po` catalogues (bot/locales/<lang>/LC_MESSAGES/bot.po) in memory when the bot starts, and
each reply is written with the `Translator` of its chat's language, passed to whatever builds
the text. A message with no translation comes out in English, never as an id.
"""

from bot.i18n.language import (
    BOT_LANGUAGE_NAMES,
    BOT_LANGUAGES,
    ENGLISH_CODE,
    choose_language,
    from_telegram,
)
from bot.i18n.locales import LOCALES_DIR, Locales
from bot.i18n.translator import ENGLISH, N_, Phrase, Translator

__all__ = [
    "BOT_LANGUAGES",
    "BOT_LANGUAGE_NAMES",
    "ENGLISH",
    "ENGLISH_CODE",
    "LOCALES_DIR",
    "N_",
    "Locales",
    "Phrase",
    "Translator",
    "choose_language",
    "from_telegram",
]

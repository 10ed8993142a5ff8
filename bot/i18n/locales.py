"""The committed `.po` catalogues, compiled in memory when the bot starts (no `.mo` files to
build or keep in step)."""

from __future__ import annotations

import gettext
import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.i18n.language import BOT_LANGUAGES, ENGLISH_CODE
from bot.i18n.translator import ENGLISH, Translator

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "bot"


def catalog_path(language: str, directory: Path = LOCALES_DIR) -> Path:
    return directory / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def compile_catalog(po_file: Path) -> gettext.GNUTranslations:
    """A `.po` file as gettext reads it. Fuzzy entries are left out (they are guesses that
    await a translator), so those messages come out in English."""
    with po_file.open("rb") as source:
        catalog = read_po(source)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


class Locales:
    """A translator for each language the bot speaks."""

    def __init__(self, translators: dict[str, Translator]) -> None:
        self._translators = {ENGLISH_CODE: ENGLISH, **translators}

    @classmethod
    def load(cls, directory: Path = LOCALES_DIR) -> Locales:
        return cls(
            {
                language: Translator(language, compile_catalog(catalog_path(language, directory)))
                for language in BOT_LANGUAGES
                if language != ENGLISH_CODE
            }
        )

    def translator(self, language: str) -> Translator:
        """The translator for a bot language; English for any other."""
        return self._translators.get(language, ENGLISH)

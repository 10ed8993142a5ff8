"""One language's translator: gettext lookups with named placeholders, and Babel's formatting
of numbers and dates for that language."""

from __future__ import annotations

import gettext
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from babel import Locale
from babel.dates import format_datetime
from babel.numbers import format_decimal

from bot.i18n.language import ENGLISH_CODE

log = logging.getLogger(__name__)


def N_(message: str) -> str:
    """Marks a message id for extraction where it is defined; it is translated where used."""
    return message


@dataclass(frozen=True)
class Phrase:
    """A message to be translated later, by whoever knows the chat's language (an error
    raised far from the chat), with its placeholders' values."""

    message: str
    values: Mapping[str, Any] = field(default_factory=dict)


class Translator:
    def __init__(self, language: str, catalog: gettext.NullTranslations) -> None:
        self.language = language
        self.locale = Locale.parse(language)
        self._catalog = catalog

    def __repr__(self) -> str:
        return f"Translator({self.language!r})"

    def gettext(self, message: str, /, **values: Any) -> str:
        """`message` (an English message id with `{name}` placeholders) in this language."""
        if not message:
            return message  # gettext's "" is the catalogue's header, never a text to show
        return self._filled(self._catalog.gettext(message), message, values)

    def ngettext(self, singular: str, plural: str, n: int, /, **values: Any) -> str:
        """The form for `n` (which fills `{n}`): languages differ in how many forms they have."""
        english = singular if n == 1 else plural
        return self._filled(
            self._catalog.ngettext(singular, plural, n), english, {"n": n, **values}
        )

    def phrase(self, phrase: Phrase) -> str:
        return self.gettext(phrase.message, **phrase.values)

    def decimal(self, value: float, digits: int = 1) -> str:
        """`1.5` as this language writes it (`1,5` in French)."""
        pattern = "#,##0." + "0" * digits if digits else "#,##0"
        return format_decimal(value, format=pattern, locale=self.locale)

    def integer(self, value: int) -> str:
        return format_decimal(value, format="#,##0", locale=self.locale)

    def date_time(self, when: datetime) -> str:
        """Day, month and time in UTC, the month named in this language (`01 déc. 14:03`)."""
        moment = when if when.tzinfo else when.replace(tzinfo=UTC)
        return format_datetime(moment, "dd MMM HH:mm", tzinfo=UTC, locale=self.locale)

    def full_date_time(self, when: datetime) -> str:
        """Day, month, year and time in UTC (`01 déc. 2026 14:03 UTC`): for what is on record."""
        moment = when if when.tzinfo else when.replace(tzinfo=UTC)
        return format_datetime(moment, "dd MMM yyyy HH:mm", tzinfo=UTC, locale=self.locale) + " UTC"

    def language_name(self, code: str, english_name: str) -> str:
        """A spoken language's name in this language (CLDR's, through Babel), else in English."""
        if self.language == ENGLISH_CODE:
            return english_name
        name = self.locale.languages.get(code)
        return name[:1].upper() + name[1:] if name else english_name

    def _filled(self, text: str, english: str, values: Mapping[str, Any]) -> str:
        if not values:
            return text
        try:
            return text.format(**values)
        except (KeyError, IndexError, ValueError):
            # A translation whose placeholders do not match (the catalogue test prevents it):
            # the English is better than an error.
            log.warning("translation of a message to %s has broken placeholders", self.language)
            return english.format(**values)


ENGLISH = Translator(ENGLISH_CODE, gettext.NullTranslations())

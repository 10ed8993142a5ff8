"""The French and Swahili catalogues cover every message the code can show, with the same
placeholders, and a missing or broken translation comes out in English."""

from __future__ import annotations

import gettext
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.i18n import BOT_LANGUAGES, ENGLISH_CODE, Locales, Translator
from bot.i18n.locales import catalog_path

PROJECT_ROOT = Path(__file__).parent.parent
TRANSLATED = [language for language in BOT_LANGUAGES if language != ENGLISH_CODE]
_PLACEHOLDER = re.compile(r"\{(\w*)[^{}]*\}")


def extracted_messages() -> list[str | tuple[str, str]]:
    """Every message id in the code, as `pybabel extract -F babel.cfg` finds them (a plural
    message is the pair (singular, plural))."""
    with (PROJECT_ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found: dict[object, None] = {}
    for _, _, message, _, _ in extract_from_dir(str(PROJECT_ROOT), method_map, options_map):
        found[message] = None
    return list(found)  # type: ignore[arg-type]


def catalog(language: str) -> Catalog:
    with catalog_path(language).open("rb") as source:
        return read_po(source)


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def test_the_code_has_messages_to_translate() -> None:
    messages = extracted_messages()
    assert "🎧 Received. Transcribing shortly…" in messages
    assert "📋 Summary" in messages  # marked with N_ where the labels are defined
    assert any(isinstance(m, tuple) for m in messages)  # ngettext


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_has_a_translation_with_the_same_placeholders(language: str) -> None:
    entries = catalog(language)
    problems: list[str] = []
    for message in extracted_messages():
        entry = entries.get(message)
        if entry is None:
            problems.append(f"missing: {message!r}")
            continue
        if entry.fuzzy:
            problems.append(f"fuzzy: {message!r}")
        translations = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        ids = message if isinstance(message, tuple) else (message,)
        if isinstance(message, tuple) and len(translations) < entries.num_plurals:
            problems.append(f"plural forms missing: {message!r}")
        expected = set().union(*(placeholders(i) for i in ids))
        for text in translations:
            if not text.strip():
                problems.append(f"empty: {message!r}")
            elif placeholders(text) - {"n"} != expected - {"n"}:
                # ngettext fills {n}: a form may leave the number out ("un enregistrement").
                problems.append(f"placeholders differ: {message!r} -> {text!r}")
            elif not _same_prefix(ids[0], text):
                problems.append(f"emoji or symbol prefix changed: {message!r} -> {text!r}")
    assert not problems, f"{language}: " + "\n".join(problems)


def _same_prefix(message: str, translation: str) -> bool:
    """A leading emoji is part of the label (buttons drop it by splitting on the first space):
    the translation must keep it."""
    first = message.split(" ", 1)[0]
    if any(ch.isalnum() for ch in first) or " " not in message:
        return True
    return translation.startswith(first + " ")


@pytest.mark.parametrize("language", TRANSLATED)
def test_catalogue_compiles_and_is_what_the_bot_speaks(language: str) -> None:
    tr = Locales.load().translator(language)
    assert tr.language == language
    assert tr.gettext("📋 Summary") != "📋 Summary"
    assert tr.gettext("Speaker {number}", number=2).endswith("2")


def _translator(entries: dict[str, str]) -> Translator:
    source = Catalog(locale="fr")
    for message, translation in entries.items():
        source.add(message, translation)
    compiled = io.BytesIO()
    write_mo(compiled, source)
    compiled.seek(0)
    return Translator("fr", gettext.GNUTranslations(compiled))


def test_missing_or_broken_translation_falls_back_to_english() -> None:
    tr = _translator({"Speaker {number}": "Locuteur {numero}", "Cancel": "Annuler"})
    assert tr.gettext("Cancel") == "Annuler"
    assert tr.gettext("Files up to {mb} MB.", mb=20) == "Files up to 20 MB."  # not translated
    assert tr.gettext("Speaker {number}", number=3) == "Speaker 3"  # broken placeholder
    assert tr.ngettext("{n} chat", "{n} chats", 2) == "2 chats"
    assert tr.gettext("") == ""  # not the catalogue's header


def test_numbers_and_dates_follow_the_language() -> None:
    locales = Locales.load()
    when = datetime(2026, 12, 1, 14, 3, tzinfo=UTC)
    assert locales.translator("fr").decimal(1.5) == "1,5"
    assert locales.translator("en").decimal(1234.5) == "1,234.5"
    assert locales.translator("fr").date_time(when) == "01 déc. 14:03"
    assert locales.translator("sw").date_time(when) == "01 Des 14:03"
    assert locales.translator("en").date_time(when) == "01 Dec 14:03"
